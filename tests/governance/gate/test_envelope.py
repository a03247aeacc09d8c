"""The decision envelope: a DSSE-signed in-toto statement that verifies with the gate's public key,
and only when not one byte changed; its hash is the one the audit log holds."""

import base64
import json

import pytest

from core.signing import KeyPurpose, service_public_key
from hooks.decision import GATE_PREDICATE_TYPE, DecisionInvalid, verify_decision
from registry.signing import envelope_sha256
from tests.conftest import client_for

from .support import GATE_URL, OTHER_DIGEST, flip_base64, gate_body, gate_entry


@pytest.fixture
def answer(world, approved):
    response = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1), format="json")
    assert response.status_code == 200
    return response.json()


def gate_key():
    return service_public_key(KeyPurpose.GATE_DECISION)


def test_the_envelope_verifies_with_the_gate_key_and_reads_the_decision(world, answer):
    version = world.version_b1

    verified = verify_decision(
        answer["envelope"],
        gate_key(),
        expect={
            "model": "model-b",
            "version": 1,
            "target_stage": "production",
            "artifact_digest": version.artifact_digest,
        },
    )

    assert (verified.decision, verified.model, verified.version, verified.target_stage) == (
        "allow",
        "model-b",
        1,
        "production",
    )
    assert (verified.artifact_digest, verified.decision_id) == (version.artifact_digest, answer["decision_id"])
    assert verified.predicate["checks"] == answer["checks"]
    assert verified.predicate["decided_by"] == "ci-b"
    assert (verified.predicate["dry_run"], verified.predicate["promote"], verified.predicate["nonce"]) == (
        False,
        False,
        None,
    )
    statement = json.loads(base64.b64decode(answer["envelope"]["payload"]))
    assert statement["predicateType"] == GATE_PREDICATE_TYPE
    assert statement["subject"] == [{"name": "model-b", "digest": {"sha256": version.artifact_digest[7:]}}]


@pytest.mark.parametrize(
    ("fields", "signed"),
    [
        pytest.param({"nonce": "run-42.attempt_1~x"}, (False, False, "run-42.attempt_1~x"), id="nonce"),
        pytest.param({"dry_run": True, "promote": True, "nonce": "n"}, (True, True, "n"), id="dry-run-promote"),
        pytest.param({"promote": True, "nonce": "p" * 128}, (False, True, "p" * 128), id="promote"),
    ],
)
def test_the_callers_nonce_and_flags_are_signed_into_the_decision(world, approved, fields, signed):
    response = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1, **fields), format="json")

    assert response.status_code == 200
    predicate = verify_decision(response.json()["envelope"], gate_key()).predicate
    assert (predicate["dry_run"], predicate["promote"], predicate["nonce"]) == signed


def test_a_whole_gate_response_verifies_too(answer):
    assert verify_decision(answer, gate_key()).decision_id == answer["decision_id"]


@pytest.mark.parametrize("index", [0, 57, -1])
def test_one_flipped_payload_byte_breaks_the_envelope(answer, index):
    envelope = answer["envelope"]
    payload_length = len(base64.b64decode(envelope["payload"]))
    tampered = {**envelope, "payload": flip_base64(envelope["payload"], index % payload_length)}

    with pytest.raises(DecisionInvalid, match=r"^the decision envelope does not verify: "):
        verify_decision(tampered, gate_key())


@pytest.mark.parametrize("index", [0, 63])
def test_one_flipped_signature_byte_breaks_the_envelope(answer, index):
    envelope = answer["envelope"]
    first = envelope["signatures"][0]
    tampered = {**envelope, "signatures": [{**first, "sig": flip_base64(first["sig"], index)}]}

    with pytest.raises(DecisionInvalid, match=r"^the decision envelope does not verify: "):
        verify_decision(tampered, gate_key())


def test_another_key_does_not_verify_the_envelope(answer):
    with pytest.raises(DecisionInvalid, match=r"^the decision envelope does not verify: "):
        verify_decision(answer["envelope"], service_public_key(KeyPurpose.INVENTORY))


def test_an_envelope_for_another_digest_fails_the_expectation(world, answer):
    with pytest.raises(DecisionInvalid) as raised:
        verify_decision(answer["envelope"], gate_key(), expect={"artifact_digest": OTHER_DIGEST})

    assert str(raised.value) == (
        f"the decision is for artifact_digest {world.version_b1.artifact_digest!r}, not {OTHER_DIGEST!r}"
    )


@pytest.mark.parametrize(("field", "wanted"), [("model", "model-a"), ("version", 2), ("target_stage", "staging")])
def test_an_envelope_for_another_promotion_fails_the_expectation(answer, field, wanted):
    with pytest.raises(DecisionInvalid, match=f"^the decision is for {field} "):
        verify_decision(answer["envelope"], gate_key(), expect={field: wanted})


def test_the_audit_entry_holds_the_envelopes_hash(answer):
    entry = gate_entry(answer["decision_id"])

    assert entry.after["envelope_sha256"] == envelope_sha256(answer["envelope"])
