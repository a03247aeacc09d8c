"""Each built-in check of the promotion gate, passing and failing, through POST /api/v1/gate/promotions.
Every answer is a logged decision: the GateDecision row and its GATE_DECIDED audit entry."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from governance.approvals.services import approval_expire_due
from governance.models import ApprovalRequest, AuditLeaf, GateDecision
from registry.services import signing_key_revoke
from registry.signing import envelope_sha256
from tests.factories import approve_promotion, seed_admin, triggers_disabled

from .support import (
    OTHER_DIGEST,
    approval_details,
    ask,
    builtin_votes,
    expected_gate_after,
    flip_base64,
    gate_audit,
    gate_body,
    gate_entry,
    passing_checks,
    replace_check,
)

NOT_VERIFIED = "no signature of the envelope verifies with the given key"


def assert_logged(answer: dict[str, Any], *, actor: Any, version: Any, failed: list[str], digest: str | None = None):
    """The answer is the stored decision, and GATE_DECIDED logs it with the envelope's hash."""
    decision = "deny" if failed else "allow"
    row = GateDecision.objects.get(pk=answer["decision_id"])
    assert (row.decision, row.checks, row.envelope, row.model_version_id, row.created_by_id) == (
        decision,
        answer["checks"],
        answer["envelope"],
        version.pk,
        actor.pk,
    )
    assert row.envelope_sha256 == envelope_sha256(answer["envelope"])
    entry = gate_entry(row.pk)
    assert gate_audit(entry) == ("GATE_DECIDED", actor.username, version.model.name, "governance.GateDecision", None)
    assert entry.after == expected_gate_after(
        version, decision=decision, failed=failed, envelope_sha256=row.envelope_sha256, digest=digest
    )
    assert AuditLeaf.objects.get(entry=entry).seq == answer["audit_seq"]


def tamper(version: Any, column: str, envelope: dict[str, Any]) -> None:
    """Replace a stored envelope as a database superuser would, past the immutability trigger."""
    with triggers_disabled("registry_modelversion", "registry_modelversion_immutable") as cursor:
        cursor.execute(
            f"UPDATE registry_modelversion SET {column} = %s WHERE id = %s",  # column is one of two literals
            [json.dumps(envelope), version.pk],
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'registry_modelversion_immutable'")
        assert cursor.fetchall() == [("A",)]  # back to ENABLE ALWAYS


def with_flipped_signature(envelope: dict[str, Any]) -> dict[str, Any]:
    first = envelope["signatures"][0]
    return {**envelope, "signatures": [{**first, "sig": flip_base64(first["sig"], 0)}]}


def test_every_builtin_check_passes_for_an_approved_signed_version(world, approved):
    version = world.version_b1

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "allow"
    assert answer["checks"] == passing_checks(version, approved)
    assert_logged(answer, actor=world.ci_b, version=version, failed=[])


@pytest.mark.parametrize("column", ["producer_signature", "countersignature"])
def test_a_tampered_stored_signature_fails_signature_valid(world, approved, column):
    version = world.version_b1
    tamper(version, column, with_flipped_signature(getattr(version, column)))
    # A changed producer signature is also no longer the one the countersigned record names.
    reasons = {
        "producer_signature": {
            "producer_signature": f"the producer signature does not verify: {NOT_VERIFIED}",
            "countersignature": "it signs another record: the stored version differs in producer_signature_sha256",
        },
        "countersignature": {"countersignature": f"the service signature does not verify: {NOT_VERIFIED}"},
    }[column]

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "deny"
    assert answer["checks"] == replace_check(
        passing_checks(version, approved),
        {
            "name": "signature_valid",
            "outcome": "fail",
            "reason": "signature_invalid",
            "details": {"failed": list(reasons), "reasons": reasons},
        },
    )
    assert_logged(answer, actor=world.ci_b, version=version, failed=["signature_valid"])


def test_another_digest_fails_digest_matches(world, approved):
    version = world.version_b1

    answer = ask(world.ci_b, gate_body(version, artifact_digest=OTHER_DIGEST))

    assert answer["decision"] == "deny"
    assert answer["checks"] == replace_check(
        passing_checks(version, approved),
        {
            "name": "digest_matches",
            "outcome": "fail",
            "reason": "digest_mismatch",
            "details": {"requested": OTHER_DIGEST, "registered": version.artifact_digest},
        },
    )
    assert_logged(answer, actor=world.ci_b, version=version, failed=["digest_matches"], digest=OTHER_DIGEST)


def test_a_registered_digest_that_is_not_the_manifests_fails_digest_matches(world, approved):
    """The stored digest rewritten past the trigger: the pipeline asks about that digest, but it is
    not the root digest of the signed manifest (and the countersigned record names the old one)."""
    version = world.version_b1
    with triggers_disabled("registry_modelversion", "registry_modelversion_immutable") as cursor:
        cursor.execute(
            "UPDATE registry_modelversion SET artifact_digest = %s WHERE id = %s", [OTHER_DIGEST, version.pk]
        )

    answer = ask(world.ci_b, gate_body(version, artifact_digest=OTHER_DIGEST))

    assert answer["decision"] == "deny"
    by_name = {check["name"]: check for check in answer["checks"]}
    assert by_name["digest_matches"] == {
        "name": "digest_matches",
        "outcome": "fail",
        "reason": "manifest_digest_invalid",
        "details": {"requested": OTHER_DIGEST, "registered": OTHER_DIGEST},
    }
    assert [check["name"] for check in answer["checks"] if check["outcome"] != "pass"] == [
        "signature_valid",
        "digest_matches",
        "approvals_complete",
    ]
    assert by_name["approvals_complete"]["reason"] == "digest_mismatch"


def test_an_approval_bound_to_another_artifact_fails_approvals_complete(world, approved):
    ApprovalRequest.objects.filter(pk=approved.pk).update(artifact_digest=OTHER_DIGEST)

    answer = ask(world.ci_b, gate_body(world.version_b1))

    details = approval_details(approved, reason="digest_mismatch", detail="The approval is bound to another artifact.")
    assert_denied_on_approvals(world, answer, approvals_vote("digest_mismatch", details))


def test_a_revoked_signing_key_fails_signing_key_active(world, approved):
    version = world.version_b1
    signing_key_revoke(actor=seed_admin(), signing_key=version.signing_key, reason="laptop stolen")

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "deny"
    assert answer["checks"] == replace_check(
        passing_checks(version, approved),
        {
            "name": "signing_key_active",
            "outcome": "fail",
            "reason": "signing_key_revoked",
            "details": {"signing_key": version.signing_key.fingerprint},
        },
    )
    assert_logged(answer, actor=world.ci_b, version=version, failed=["signing_key_active"])


def approvals_vote(reason: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"name": "approvals_complete", "outcome": "fail", "reason": reason, "details": details}


def assert_denied_on_approvals(world: Any, answer: dict[str, Any], vote: dict[str, Any]) -> None:
    version = world.version_b1
    assert answer["decision"] == "deny"
    assert answer["checks"] == builtin_votes(version, vote)
    assert_logged(answer, actor=world.ci_b, version=version, failed=["approvals_complete"])


def test_no_request_fails_approvals_complete(world):
    answer = ask(world.ci_b, gate_body(world.version_b1))

    details = approval_details(None, reason="no_request", detail="No approval was requested for production.")
    assert_denied_on_approvals(world, answer, approvals_vote("no_request", details))
    assert answer["policy_version"] is None


def test_an_approval_for_staging_does_not_open_production(world):
    approve_promotion(version=world.version_b1, stage="staging", requester=world.ci_b, approvers=[world.validator])

    answer = ask(world.ci_b, gate_body(world.version_b1))

    details = approval_details(None, reason="no_request", detail="No approval was requested for production.")
    assert_denied_on_approvals(world, answer, approvals_vote("no_request", details))


def test_a_rejected_request_fails_approvals_complete(world):
    request = approve_promotion(
        version=world.version_b1,
        stage="production",
        requester=world.ci_b,
        approvers=[world.validator],
        decision="reject",
        comment="The calibration report is missing.",
    )

    answer = ask(world.ci_b, gate_body(world.version_b1))

    details = approval_details(request, reason="request_rejected", detail="The latest request is rejected.")
    assert_denied_on_approvals(world, answer, approvals_vote("request_rejected", details))


def test_an_approval_past_its_lifetime_fails_approvals_complete(world, approved):
    # The approval's lifetime ended a minute ago and the nightly expiry job has not run yet.
    ended = timezone.now() - timedelta(minutes=1)
    ApprovalRequest.objects.filter(pk=approved.pk).update(expires_at=ended)

    answer = ask(world.ci_b, gate_body(world.version_b1))

    details = approval_details(approved, reason="expired", detail=f"The approval expired at {ended.isoformat()}.")
    assert details["expires_at"] == ended.isoformat()
    assert_denied_on_approvals(world, answer, approvals_vote("expired", details))


def test_an_approval_expired_by_the_expiry_job_fails_approvals_complete(world, approved):
    assert approval_expire_due(now=approved.expires_at + timedelta(seconds=1)) == 1

    answer = ask(world.ci_b, gate_body(world.version_b1))

    # The gate reads a request that is no longer granted as its state alone: no expiry date is reported.
    details = {
        **approval_details(approved, reason="request_expired", detail="The latest request is expired."),
        "expires_at": None,
    }
    assert_denied_on_approvals(world, answer, approvals_vote("request_expired", details))


def test_a_conditional_approval_with_overdue_conditions_fails_approvals_complete(world):
    tomorrow = timezone.now().date() + timedelta(days=1)
    request = approve_promotion(
        version=world.version_b1,
        stage="production",
        requester=world.ci_b,
        approvers=[world.validator],
        decision="approve_with_conditions",
        conditions="Add a drift monitor.",
        due_date=tomorrow,
    )
    assert request.state == "approved_with_conditions"
    # The due date has passed and no compliance officer recorded the conditions as met.
    overdue = timezone.now().date() - timedelta(days=1)
    ApprovalRequest.objects.filter(pk=request.pk).update(conditions_due=overdue)

    answer = ask(world.ci_b, gate_body(world.version_b1))

    detail = f"The approval's conditions were due {overdue.isoformat()} and are not recorded as met."
    details = approval_details(request, reason="conditions_overdue", detail=detail)
    assert_denied_on_approvals(world, answer, approvals_vote("conditions_overdue", details))


def test_a_conditional_approval_before_its_due_date_passes(world):
    request = approve_promotion(
        version=world.version_b1,
        stage="production",
        requester=world.ci_b,
        approvers=[world.validator],
        decision="approve_with_conditions",
        conditions="Add a drift monitor.",
        due_date=timezone.now().date() + timedelta(days=30),
    )

    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert answer["decision"] == "allow"
    assert answer["checks"] == passing_checks(world.version_b1, request)
    assert_logged(answer, actor=world.ci_b, version=world.version_b1, failed=[])
