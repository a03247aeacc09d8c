"""What a plugin cannot do to a decision: change what the built-in checks see (in whatever order it
runs), change what another plugin sees or what is signed and stored, vote under a built-in's name,
or hand back details that are not JSON; and what the gate does when it cannot sign (a 5xx, nothing
written). Also: an implementation may take fewer arguments than the spec, and plugins vote in
pluggy's order."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from governance.gate.selectors import gate_subject
from governance.models import ApprovalRequest, AuditEntry, GateDecision
from hooks.decision import verify_decision
from hooks.events import CheckResult, GateContext
from hooks.manager import get_plugin_manager
from hooks.specs import hookimpl
from registry.models import ModelVersion
from registry.services import signing_key_revoke
from tests.conftest import client_for
from tests.factories import seed_admin
from tests.helpers import nothing_written

from .support import (
    GATE_URL,
    approval_details,
    ask,
    builtin_votes,
    gate_body,
    gate_entry,
    passing_checks,
    promote,
)


def tamper(context: GateContext) -> None:
    """Every input of the built-in checks turned into a pass, in the context this plugin was shown."""
    context.approval.update(approved=True, reason="ok", policy_version=999, request_id=None)
    context.signature_checks.update(producer_signature=True, countersignature=True, digest=True)
    context.metrics["tampered"] = True
    context.pipeline.metadata["tampered"] = True


class TamperFirst:
    @hookimpl(tryfirst=True)
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        tamper(context)
        return [CheckResult("tamper_first", "pass", "ok", {})]


class TamperLast:
    @hookimpl(trylast=True)
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        tamper(context)
        return [CheckResult("tamper_last", "pass", "ok", {})]


class Tamper:
    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        tamper(context)
        return [CheckResult("tamper", "pass", "ok", {})]


class Witness:
    """Keeps what it was shown."""

    def __init__(self) -> None:
        self.seen: list[GateContext] = []

    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        self.seen.append(context)
        return [CheckResult("witness", "pass", "ok", {})]


NO_REQUEST = {
    "name": "approvals_complete",
    "outcome": "fail",
    "reason": "no_request",
    "details": approval_details(None, reason="no_request", detail="No approval was requested for production."),
}


@pytest.mark.parametrize("tamperer", [TamperFirst(), TamperLast(), Tamper()], ids=["tryfirst", "trylast", "plain"])
def test_a_plugin_changing_its_context_changes_no_builtin_vote_nor_what_is_stored(world, plugin, tamperer):
    witness = plugin(Witness(), "witness")
    plugin(tamperer, "tamperer")
    version = world.version_b1  # never approved: approvals_complete must fail

    answer = ask(world.ci_b, gate_body(version, pipeline={"metadata": {"ticket": "CHG-1"}}))

    assert answer["decision"] == "deny"
    assert answer["checks"][:4] == builtin_votes(version, NO_REQUEST)
    assert answer["policy_version"] is None
    row = GateDecision.objects.get()
    assert (row.policy_version, row.approval_request_id, row.pipeline["metadata"]) == (None, None, {"ticket": "CHG-1"})
    assert row.checks[:4] == builtin_votes(version, NO_REQUEST)
    predicate = verify_decision(answer["envelope"], _gate_key()).predicate
    assert (predicate["policy_version"], predicate["pipeline"]["metadata"]) == (None, {"ticket": "CHG-1"})
    assert gate_entry(answer["decision_id"]).after["failed_checks"] == ["approvals_complete"]
    [seen] = witness.seen  # the other plugin's copy is untouched, whichever ran first
    assert (seen.approval["approved"], seen.metrics.get("tampered"), seen.pipeline.metadata) == (
        False,
        None,
        {"ticket": "CHG-1"},
    )


def _gate_key() -> Any:
    from core.signing import KeyPurpose, service_public_key

    return service_public_key(KeyPurpose.GATE_DECISION)


class Answer:
    def __init__(self, votes: Any) -> None:
        self.votes = votes

    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> Any:
        return self.votes


@pytest.mark.parametrize(
    ("votes", "error"),
    [
        pytest.param(
            [CheckResult("signature_valid", "pass", "ok", {})],
            "ValueError: the check name 'signature_valid' is reserved for the gate",
            id="a-builtin-name",
        ),
        pytest.param(
            [CheckResult("plugin:other", "pass", "ok", {})],
            "ValueError: the check name 'plugin:other' is reserved for the gate",
            id="a-plugin-error-name",
        ),
        pytest.param(
            [CheckResult("ticket", "pass", "ok", {"ids": {1, 2}})],
            "TypeError: Object of type set is not JSON serializable",
            id="details-not-json",
        ),
        pytest.param(
            [CheckResult("ticket", "pass", "ok", {"ratio": float("nan")})],
            "ValueError: Out of range float values are not JSON compliant",
            id="details-with-nan",
        ),
        pytest.param(
            [CheckResult("ticket", "pass", "ok\ud83d", {})],
            "UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud83d' in position 59: surrogates not allowed",
            id="a-lone-surrogate",
        ),
        pytest.param(
            [CheckResult("ticket", "pass", "ok", {"note": "a\x00b"})],
            "ValueError: the vote 'ticket' holds what cannot be stored: null_character at ['details', 'note']",
            id="a-nul-character",
        ),
    ],
)
def test_a_vote_the_gate_cannot_sign_and_store_is_an_error_vote(world, approved, plugin, votes, error):
    plugin(Answer(votes), "ticket-check")
    version = world.version_b1

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "deny"
    assert answer["checks"] == [
        *passing_checks(version, approved),
        {"name": "plugin:ticket-check", "outcome": "error", "reason": "plugin_error", "details": {"error": error}},
    ]
    assert GateDecision.objects.get().checks == answer["checks"]


class RaisingUnstorably:
    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        raise RuntimeError("ticket \x00 \ud800 down")


def test_a_plugin_error_that_cannot_be_stored_as_it_is_is_stored_escaped(world, approved, plugin):
    plugin(RaisingUnstorably(), "ticket-check")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert answer["decision"] == "deny"
    assert answer["checks"][-1] == {
        "name": "plugin:ticket-check",
        "outcome": "error",
        "reason": "plugin_error",
        "details": {"error": "RuntimeError: ticket \\x00 \\ud800 down"},
    }
    assert GateDecision.objects.get().checks == answer["checks"]


class NoArguments:
    @hookimpl
    def modelgov_gate_checks(self) -> list[CheckResult]:
        return [CheckResult("always_on", "pass", "ok", {})]


def test_an_implementation_taking_no_argument_is_called_as_pluggy_would(world, approved, plugin):
    plugin(NoArguments(), "always-on")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert answer["decision"] == "allow"
    assert answer["checks"][-1] == {"name": "always_on", "outcome": "pass", "reason": "ok", "details": {}}


class Vote:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        return [CheckResult(self.name, "pass", "ok", {})]


class FirstVote(Vote):
    @hookimpl(tryfirst=True)
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        return [CheckResult(self.name, "pass", "ok", {})]


def test_plugins_vote_in_pluggys_order_after_the_builtins(world, approved, plugin):
    plugin(Vote("registered_first"), "a")
    plugin(Vote("registered_second"), "b")
    plugin(FirstVote("tryfirst"), "c")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert [check["name"] for check in answer["checks"]] == [
        "signature_valid",
        "digest_matches",
        "signing_key_active",
        "approvals_complete",
        "tryfirst",
        "registered_second",
        "registered_first",
    ]


class Declining:
    @hookimpl
    def modelgov_sign_payload(self, payload: bytes, purpose: str) -> None:
        return None


@pytest.fixture
def no_file_signer():
    """The built-in file signer unregistered for one test (as a blocklist entry would leave it)."""
    manager = get_plugin_manager()
    signer = manager.unregister(name="builtin-file-signer")
    yield
    manager.register(signer, name="builtin-file-signer")


def test_a_gate_that_cannot_sign_answers_500_and_writes_nothing(world, approved, plugin, no_file_signer):
    plugin(Declining(), "kms-standby")
    version = world.version_b1
    client = client_for(world.ci_b)
    client.raise_request_exception = False  # answer as the server would, instead of raising in the test

    with nothing_written():
        response = client.post(GATE_URL, gate_body(version, promote=True), format="json")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert not GateDecision.objects.exists()
    assert ModelVersion.objects.values_list("stage", flat=True).get(pk=version.pk) == "none"


def _stale_subject(world: Any) -> tuple[ModelVersion, Any]:
    """The version and its facts as the API reads them before deciding."""
    return gate_subject(name="model-b", version=1, actor=world.ci_b, stage="production")


def _promote(world: Any, version: ModelVersion, facts: Any) -> GateDecision:
    return promote(world, version, facts)[0]


def test_a_key_revoked_after_the_read_stops_the_promotion(world, approved):
    version, facts = _stale_subject(world)
    signing_key_revoke(actor=seed_admin(), signing_key=version.signing_key, reason="laptop stolen")

    decision = _promote(world, version, facts)

    assert (decision.decision, decision.promoted) == ("deny", False)
    assert [check["name"] for check in decision.checks if check["outcome"] != "pass"] == ["signing_key_active"]
    assert ModelVersion.objects.values_list("stage", flat=True).get(pk=version.pk) == "none"
    assert not AuditEntry.objects.filter(event_type="MODEL_VERSION_PROMOTED").exists()


def test_an_approval_expired_after_the_read_stops_the_promotion(world, approved):
    version, facts = _stale_subject(world)
    ApprovalRequest.objects.filter(pk=approved.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    decision = _promote(world, version, facts)

    assert (decision.decision, decision.promoted) == ("deny", False)
    assert [check["name"] for check in decision.checks if check["outcome"] != "pass"] == ["approvals_complete"]
    assert ModelVersion.objects.values_list("stage", flat=True).get(pk=version.pk) == "none"


def test_without_a_change_the_stale_read_still_promotes(world, approved):
    version, facts = _stale_subject(world)

    decision = _promote(world, version, facts)

    assert (decision.decision, decision.promoted) == ("allow", True)
    assert ModelVersion.objects.values_list("stage", flat=True).get(pk=version.pk) == "production"
    assert AuditEntry.objects.filter(event_type="MODEL_VERSION_PROMOTED", subject_id=str(version.pk)).count() == 1
