"""Plugins on the gate: a plugin's fail vote denies, a broken plugin is an error vote (never an
allow), a failing notification plugin is logged without touching the decision, and a signer plugin
answering first replaces the key file."""

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from core.signing import KeyPurpose, service_public_key
from governance.models import AuditEntry, GateDecision
from hooks.decision import DecisionInvalid, verify_decision
from hooks.events import CheckResult, GateContext, GateDecided, SignedPayload
from hooks.specs import hookimpl
from tests.conftest import client_for

from .support import (
    GATE_URL,
    RecordingNotification,
    ask,
    audit_mark,
    events_since,
    expected_gate_after,
    gate_body,
    gate_entry,
    passing_checks,
)


class FourEyesCheck:
    """Votes fail on every promotion, and keeps the context it was shown."""

    def __init__(self) -> None:
        self.seen: list[GateContext] = []

    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        self.seen.append(context)
        return [CheckResult("four_eyes", "fail", "second_reviewer_missing", {"needed": 2})]


class PassingCheck:
    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        return [CheckResult("model_card_present", "pass", "ok", {})]


def test_a_plugins_fail_vote_denies_although_the_builtins_pass(world, approved, plugin):
    four_eyes = plugin(FourEyesCheck(), "four-eyes")
    plugin(PassingCheck(), "model-card")
    version = world.version_b1

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "deny"
    assert answer["checks"] == [  # the plugins in pluggy's order: the last registered first
        *passing_checks(version, approved),
        {"name": "model_card_present", "outcome": "pass", "reason": "ok", "details": {}},
        {"name": "four_eyes", "outcome": "fail", "reason": "second_reviewer_missing", "details": {"needed": 2}},
    ]
    entry = gate_entry(answer["decision_id"])
    assert entry.after == expected_gate_after(
        version, decision="deny", failed=["four_eyes"], envelope_sha256=GateDecision.objects.get().envelope_sha256
    )
    [context] = four_eyes.seen
    assert (context.model, context.version, context.target_stage, context.risk_tier) == (
        "model-b",
        1,
        "production",
        "low",
    )
    assert (context.requested_digest, context.registered_digest) == (version.artifact_digest, version.artifact_digest)
    assert context.signature_checks == {
        "digest": True,
        "producer_signature": True,
        "signing_key_active": True,
        "countersignature": True,
    }
    assert context.approval["approved"] is True


def test_passing_plugins_leave_an_allow(world, approved, plugin):
    plugin(PassingCheck(), "model-card")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    assert answer["decision"] == "allow"
    assert [check["name"] for check in answer["checks"]][-1] == "model_card_present"


class RaisingCheck:
    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> list[CheckResult]:
        raise RuntimeError("the ticket system is down")


class GarbageCheck:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def modelgov_gate_checks(self, context: GateContext) -> Any:
        return self.answer


LIST_OF_CHECKRESULTS = "TypeError: a gate check must return a list of CheckResult"


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        pytest.param(RaisingCheck(), "RuntimeError: the ticket system is down", id="raises"),
        pytest.param(GarbageCheck("pass"), LIST_OF_CHECKRESULTS, id="a-string"),
        pytest.param(GarbageCheck(None), LIST_OF_CHECKRESULTS, id="none"),
        pytest.param(GarbageCheck([{"name": "x", "outcome": "pass"}]), LIST_OF_CHECKRESULTS, id="list-of-dicts"),
        pytest.param(GarbageCheck((CheckResult("x", "pass"),)), LIST_OF_CHECKRESULTS, id="a-tuple"),
        pytest.param(
            GarbageCheck([CheckResult("x", "maybe")]),  # type: ignore[arg-type]
            "ValueError: outcome 'maybe' is not pass, fail or error",
            id="unknown-outcome",
        ),
    ],
)
def test_a_broken_plugin_is_an_error_vote_and_the_decision_a_deny(world, approved, plugin, broken, error):
    plugin(broken, "ticket-check")
    version = world.version_b1

    answer = ask(world.ci_b, gate_body(version))

    assert answer["decision"] == "deny"
    assert answer["checks"] == [
        *passing_checks(version, approved),
        {"name": "plugin:ticket-check", "outcome": "error", "reason": "plugin_error", "details": {"error": error}},
    ]
    assert gate_entry(answer["decision_id"]).after["failed_checks"] == ["plugin:ticket-check"]


class RaisingNotification(RecordingNotification):
    @hookimpl
    def modelgov_gate_decided(self, event: GateDecided) -> None:
        super().modelgov_gate_decided(event)
        raise ConnectionError("chat webhook unreachable")


def test_a_failing_notification_plugin_is_logged_and_leaves_the_decision(
    world, approved, plugin, django_capture_on_commit_callbacks
):
    failing = plugin(RaisingNotification(), "chat")
    recording = plugin(RecordingNotification(), "recorder")
    client = client_for(world.ci_b)
    mark = audit_mark()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(GATE_URL, gate_body(world.version_b1), format="json")

    assert response.status_code == 200
    answer = response.json()
    assert answer["decision"] == "allow"
    row = GateDecision.objects.get()
    assert (str(row.pk), row.decision) == (answer["decision_id"], "allow")
    assert events_since(mark) == ["GATE_DECIDED", "PLUGIN_NOTIFICATION_FAILED"]
    decided = gate_entry(row.pk)
    event = GateDecided(
        decision_id=answer["decision_id"],
        model="model-b",
        version=1,
        target_stage="production",
        decision="allow",
        failed_checks=(),
        audit_entry_id=decided.pk,
    )
    assert failing.events == recording.events == [event]
    failed = AuditEntry.objects.get(event_type="PLUGIN_NOTIFICATION_FAILED")
    assert (failed.actor_name, failed.model_name, failed.subject_type, failed.subject_id, failed.before) == (
        "system",
        "model-b",
        "governance.GateDecision",
        str(row.pk),
        None,
    )
    assert failed.after == {
        "plugin": "chat",
        "hook": "modelgov_gate_decided",
        "error": "ConnectionError: chat webhook unreachable",
    }


class KmsSigner:
    """A signer plugin holding its own key, as a KMS or HSM would."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.purposes: list[str] = []

    @hookimpl
    def modelgov_sign_payload(self, payload: bytes, purpose: str) -> SignedPayload:
        self.purposes.append(purpose)
        return SignedPayload(signature=self.key.sign(payload), keyid="kms:gate-key-1")


def test_a_signer_plugin_answering_first_replaces_the_key_file(world, approved, plugin):
    signer = plugin(KmsSigner(), "kms")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    envelope = answer["envelope"]
    assert signer.purposes == ["gate_decision"]
    assert [signature["keyid"] for signature in envelope["signatures"]] == ["kms:gate-key-1"]
    verified = verify_decision(envelope, signer.key.public_key())
    assert (verified.decision, verified.decision_id) == ("allow", answer["decision_id"])
    with pytest.raises(DecisionInvalid):
        verify_decision(envelope, service_public_key(KeyPurpose.GATE_DECISION))


class DecliningSigner:
    @hookimpl
    def modelgov_sign_payload(self, payload: bytes, purpose: str) -> None:
        return None


def test_a_signer_plugin_that_declines_leaves_the_key_file(world, approved, plugin):
    plugin(DecliningSigner(), "kms-standby")

    answer = ask(world.ci_b, gate_body(world.version_b1))

    verified = verify_decision(answer["envelope"], service_public_key(KeyPurpose.GATE_DECISION))
    assert verified.decision == "allow"
