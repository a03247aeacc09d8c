"""What the gate reads in its one PostgreSQL statement equals what the selectors answer part by part;
the gate's memo of signature verifications answers as a fresh verification does; a decision queues
a notification only when a plugin listens."""

import copy
import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.approvals.selectors import ApprovalRow, approval_status_for, approval_status_from
from governance.gate.selectors import gate_facts, gate_facts_by_selectors, gate_subject
from governance.models import ApprovalRequest, GateDecision
from registry.errors import ModelNotFound, ModelVersionNotFound
from registry.selectors import VerificationCheck, model_version_get_for_user, model_version_verify
from tests.conftest import client_for
from tests.factories import approve_promotion, make_version, seed_admin

from .support import GATE_URL, RecordingNotification, flip_base64, gate_body

pytestmark = pytest.mark.django_db


def both(actor: Any, version: Any, stage: str) -> tuple[Any, Any]:
    return gate_facts(actor=actor, version=version, stage=stage), gate_facts_by_selectors(
        actor=actor, version=version, stage=stage
    )


def test_one_statement_reads_the_facts_the_selectors_read(world):
    version = world.version_b1
    refused = approve_promotion(
        version=version,
        stage="production",
        requester=world.ci_b,
        approvers=[world.validator],
        decision="reject",
        comment="no",
    )
    granted = approve_promotion(version=version, stage="production", requester=world.ci_b, approvers=[world.validator])
    staging = approve_promotion(version=version, stage="staging", requester=world.ci_b, approvers=[world.validator])

    with CaptureQueriesContext(connection) as queries:
        facts = gate_facts(actor=world.ci_b, version=version, stage="production")
    assert len([query for query in queries if query["sql"].startswith("EXECUTE")]) == 1

    expected = [
        ApprovalRow(
            request.pk,
            request.state,
            request.artifact_digest,
            request.created_at,
            request.decided_at,
            request.expires_at,
            request.conditions_due,
            request.policy.version,
        )
        for request in ApprovalRequest.objects.filter(pk__in=[refused.pk, granted.pk]).select_related("policy")
    ]
    assert facts.may_request_promotion is True
    assert sorted(facts.approvals) == sorted(expected)
    assert [row.state for row in sorted(facts.approvals)] == ["rejected", "approved"]
    assert facts.logged_countersignature_sha256 == version.countersignature_sha256
    assert facts == gate_facts_by_selectors(actor=world.ci_b, version=version, stage="production")
    assert [row.pk for row in gate_facts(actor=world.ci_b, version=version, stage="staging").approvals] == [staging.pk]


@pytest.mark.parametrize(
    ("who", "stage", "may"),
    [
        ("ci_b", "production", True),  # the model's team
        ("ci_a", "production", False),  # another team's pipeline
        ("auditor", "production", False),  # reads everything, asks nothing
        ("validator", "production", False),
        ("ci_b", "no-such-stage", True),  # the stage is checked after the facts: no request matches it
    ],
)
def test_the_statement_and_the_selectors_agree_on_who_may_ask(world, who, stage, may):
    facts, by_selectors = both(getattr(world, who), world.version_b1, stage)

    assert facts == by_selectors
    assert (facts.may_request_promotion, facts.approvals) == (may, [])


def test_a_superuser_and_a_version_without_requests(world):
    admin = seed_admin()
    version = make_version(model=world.model_b, actor=world.ci_b, seed="b-facts")

    facts, by_selectors = both(admin, version, "production")

    assert facts == by_selectors
    assert (facts.may_request_promotion, facts.approvals, facts.logged_countersignature_sha256) == (
        True,
        [],
        version.countersignature_sha256,
    )


def test_the_status_from_the_statements_rows_is_the_selectors_status(world, approved):
    facts = gate_facts(actor=world.ci_b, version=world.version_b1, stage="production")

    status = approval_status_from(
        rows=facts.approvals, artifact_digest=world.version_b1.artifact_digest, stage="production"
    )

    assert status == approval_status_for(version=world.version_b1, stage="production")
    assert (status.approved, status.reason, status.request_id) == (True, "approved", approved.pk)


PASSING = [
    VerificationCheck("digest", True, ""),
    VerificationCheck("producer_signature", True, ""),
    VerificationCheck("signing_key_active", True, ""),
    VerificationCheck("countersignature", True, ""),
]


def test_the_memo_answers_as_a_fresh_verification_for_every_change_of_what_it_reads(world):
    version = world.version_b1
    logged = version.countersignature_sha256

    def gate_view() -> list[VerificationCheck]:
        return model_version_verify(version=version, logged_sha256=logged, look_up_log=False, reuse_verified=True)

    assert gate_view() == PASSING == model_version_verify(version=version)
    assert gate_view() == PASSING  # from the memo

    stored = copy.deepcopy(version.countersignature)
    first = version.countersignature["signatures"][0]
    version.countersignature = {**stored, "signatures": [{**first, "sig": flip_base64(first["sig"], 3)}]}
    tampered = gate_view()
    assert tampered[3].name == "countersignature" and tampered[3].ok is False
    assert tampered == model_version_verify(version=version, logged_sha256=logged, look_up_log=False)
    version.countersignature = stored

    version.artifact_digest = "sha256:" + "0" * 64
    moved = gate_view()
    assert [check.ok for check in moved] == [False, False, True, False]
    assert moved == model_version_verify(version=version, logged_sha256=logged, look_up_log=False)
    version.refresh_from_db()

    assert gate_view() == PASSING


def test_the_memo_never_keeps_the_keys_state_or_the_logged_hash(world):
    version = world.version_b1
    assert (
        model_version_verify(
            version=version, logged_sha256=version.countersignature_sha256, look_up_log=False, reuse_verified=True
        )
        == PASSING
    )

    version.signing_key.revoked_at = version.created_at + timedelta(days=1)
    revoked = model_version_verify(
        version=version, logged_sha256=version.countersignature_sha256, look_up_log=False, reuse_verified=True
    )
    assert revoked[2] == VerificationCheck(
        "signing_key_active", False, f"the key was revoked at {version.signing_key.revoked_at.isoformat()}"
    )
    version.signing_key.revoked_at = None

    other = model_version_verify(version=version, logged_sha256="0" * 64, look_up_log=False, reuse_verified=True)
    assert other[3] == VerificationCheck("countersignature", False, "its hash is not the one in the audit log")


def notification_callbacks(callbacks: list[Any]) -> list[str]:
    """The after-commit callbacks that queue a Celery task (the only task a decision queues is the
    plugin notification; the audit log's integration is a plain function)."""
    return [callback.__qualname__ for callback in callbacks if callback.__qualname__.endswith(".delay)")]


def test_a_decision_queues_no_notification_when_no_plugin_listens(world, approved, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1), format="json")

    assert response.status_code == 200
    assert response.json()["decision"] == "allow"
    assert notification_callbacks(callbacks) == []
    assert GateDecision.objects.count() == 1


def test_a_listening_plugin_is_notified_of_the_decision(world, approved, plugin, django_capture_on_commit_callbacks):
    listener = plugin(RecordingNotification(), "listener")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1), format="json")

    answer = response.json()
    assert notification_callbacks(callbacks) == ["after_commit(Task.delay)"]
    assert [(event.decision_id, event.decision) for event in listener.events] == [(answer["decision_id"], "allow")]


def same_version(found: Any, expected: Any) -> None:
    """Two instances of one version with the same stored values, model, creator and key."""

    def values(instance: Any) -> dict[str, Any]:
        return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}

    assert values(found) == values(expected)
    for related in ("model", "created_by", "signing_key"):
        assert values(getattr(found, related)) == values(getattr(expected, related))


@pytest.mark.parametrize("who", ["ci_b", "owner_b", "auditor", "admin"])
def test_the_version_and_its_facts_in_one_statement(world, approved, who):
    actor = seed_admin() if who == "admin" else getattr(world, who)

    with CaptureQueriesContext(connection) as queries:
        found, facts = gate_subject(name="model-b", version=1, actor=actor, stage="production")
    assert len([query for query in queries if query["sql"].startswith("EXECUTE")]) == 1

    assert found.get_deferred_fields() == {"manifest", "producer_signature", "countersignature"}
    same_version(found, model_version_get_for_user(name="model-b", version=1, user=actor))  # loads them
    assert facts.signed_json is not None
    assert {name: json.loads(text) for name, text in facts.signed_json.items()} == {
        name: getattr(found, name) for name in ("manifest", "producer_signature", "countersignature")
    }
    # The selectors read the version's columns parsed, not as text: everything else is the same.
    assert dataclasses.replace(facts, signed_json=None) == gate_facts_by_selectors(
        actor=actor, version=found, stage="production"
    )
    assert (facts.may_request_promotion, [row.pk for row in facts.approvals]) == (who != "auditor", [approved.pk])


@pytest.mark.parametrize(
    ("who", "name", "version", "error", "code"),
    [
        ("ci_a", "model-b", 1, ModelNotFound, "model_not_found"),  # may not view: not found, as everywhere
        ("ci_b", "model-b", 9, ModelVersionNotFound, "model_version_not_found"),
        ("ci_b", "no-such-model", 1, ModelNotFound, "model_not_found"),
    ],
)
def test_a_version_the_caller_may_not_see_is_not_found(world, who, name, version, error, code):
    with pytest.raises(error) as raised:
        gate_subject(name=name, version=version, actor=getattr(world, who), stage="production")

    assert raised.value.code == code


def test_the_gate_reads_the_signed_json_as_text_and_parses_it_only_on_a_miss(world):
    """gate_subject leaves the version's manifest and signatures deferred and hands over their stored
    text; the memo is keyed by that text, so a hit parses nothing, and a changed text is a miss that
    answers as a fresh verification of the changed value."""
    version, facts = gate_subject(name=world.model_b.name, version=1, actor=world.ci_b, stage="production")
    signed = facts.signed_json
    assert signed is not None
    stored = type(version).objects.get(pk=version.pk)
    assert version.get_deferred_fields() == {"manifest", "producer_signature", "countersignature"}
    assert {name: json.loads(text) for name, text in signed.items()} == {
        "manifest": stored.manifest,
        "producer_signature": stored.producer_signature,
        "countersignature": stored.countersignature,
    }
    logged = stored.countersignature_sha256

    def gate_view(subject: Any, text: dict[str, str]) -> list[VerificationCheck]:
        return model_version_verify(
            version=subject, logged_sha256=logged, look_up_log=False, reuse_verified=True, signed_json=text
        )

    assert gate_view(version, signed) == PASSING  # a miss: parsed into the version
    again, facts = gate_subject(name=world.model_b.name, version=1, actor=world.ci_b, stage="production")
    with CaptureQueriesContext(connection) as queries:
        assert gate_view(again, facts.signed_json) == PASSING  # a hit
    assert len(queries) == 0
    assert again.get_deferred_fields() == {"manifest", "producer_signature", "countersignature"}  # nothing parsed

    first = stored.countersignature["signatures"][0]
    tampered = {**stored.countersignature, "signatures": [{**first, "sig": flip_base64(first["sig"], 3)}]}
    changed, facts = gate_subject(name=world.model_b.name, version=1, actor=world.ci_b, stage="production")
    answer = gate_view(changed, {**facts.signed_json, "countersignature": json.dumps(tampered)})
    assert answer[3].name == "countersignature" and answer[3].ok is False
    stored.countersignature = tampered
    assert answer == model_version_verify(version=stored, logged_sha256=logged, look_up_log=False)
