"""hooks.decision.verify_decision on statements the pinned key signed but that are not of a gate
decision's shape (an error, never a crash), and ``expect_predicate``, which pins predicate fields by
JSON type and value. Django-free."""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hooks import tlog
from hooks.decision import GATE_PREDICATE_TYPE, DecisionInvalid, verify_decision
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE

KEY = ed25519.Ed25519PrivateKey.generate()
DIGEST = "sha256:" + "ab" * 32
PREDICATE = {
    "decision_id": "0b5e7c1a-8f0e-4c11-9a55-3f6f0c2b9d10",
    "decision": "allow",
    "model": "model-b",
    "version": 2,
    "target_stage": "production",
    "dry_run": False,
    "promote": True,
    "nonce": "n-1",
}


def envelope(statement: Any) -> dict[str, Any]:
    return tlog.dsse_sign(INTOTO_PAYLOAD_TYPE, json.dumps(statement).encode(), KEY.sign, "k")


def statement(**changes: Any) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model-b", "digest": {"sha256": DIGEST.removeprefix("sha256:")}}],
        "predicateType": GATE_PREDICATE_TYPE,
        "predicate": PREDICATE,
        **changes,
    }


def test_a_well_formed_decision_verifies_with_its_predicate_pinned():
    verified = verify_decision(
        envelope(statement()),
        KEY.public_key(),
        expect={"artifact_digest": DIGEST, "version": 2},
        expect_predicate={"nonce": "n-1", "dry_run": False, "promote": True},
    )

    assert (verified.decision, verified.version, verified.artifact_digest) == ("allow", 2, DIGEST)


@pytest.mark.parametrize(
    ("pinned", "message"),
    [
        ({"nonce": "n-2"}, "the decision is for nonce 'n-1', not 'n-2'"),
        ({"dry_run": True}, "the decision is for dry_run False, not True"),
        ({"promote": 1}, "the decision is for promote True, not 1"),  # JSON true is not 1
        ({"absent": "x"}, "the decision is for absent None, not 'x'"),
    ],
    ids=["nonce", "dry-run", "promote-type", "absent"],
)
def test_expect_predicate_compares_type_and_value(pinned, message):
    with pytest.raises(DecisionInvalid) as raised:
        verify_decision(envelope(statement()), KEY.public_key(), expect_predicate=pinned)

    assert str(raised.value) == message


def test_expect_predicate_reads_a_missing_field_as_null():
    verified = verify_decision(envelope(statement()), KEY.public_key(), expect_predicate={"absent": None})

    assert verified.predicate == PREDICATE


NOT_A_DECISION = "the envelope is not a modelgov gate decision"
NO_PREDICATE = "the gate decision has no predicate object or not exactly one subject"
NO_DIGEST = "the gate decision has no sha256 subject digest or no integer version"


@pytest.mark.parametrize(
    ("signed", "message"),
    [
        ([statement()], NOT_A_DECISION),
        ("allow", NOT_A_DECISION),
        (statement(predicate=["allow"]), NO_PREDICATE),
        (statement(predicate=None), NO_PREDICATE),
        (statement(subject={"name": "model-b"}), NO_PREDICATE),
        (statement(subject=[]), NO_PREDICATE),
        (statement(subject=[{"digest": {"sha256": "ab"}}, {"digest": {"sha256": "cd"}}]), NO_PREDICATE),
        (statement(subject=["model-b"]), NO_DIGEST),
        (statement(subject=[{"name": "model-b", "digest": "ab"}]), NO_DIGEST),
        (statement(subject=[{"name": "model-b", "digest": {"sha256": 7}}]), NO_DIGEST),
        (statement(predicate={**PREDICATE, "version": "two"}), NO_DIGEST),
        (statement(predicate={**PREDICATE, "version": True}), NO_DIGEST),
        (statement(predicate={key: value for key, value in PREDICATE.items() if key != "version"}), NO_DIGEST),
    ],
    ids=[
        "array",
        "string",
        "predicate-array",
        "predicate-null",
        "subject-object",
        "no-subject",
        "two-subjects",
        "subject-string",
        "digest-string",
        "sha256-number",
        "version-string",
        "version-bool",
        "no-version",
    ],
)
def test_a_signed_statement_of_another_shape_is_invalid_not_a_crash(signed, message):
    with pytest.raises(DecisionInvalid) as raised:
        verify_decision(envelope(signed), KEY.public_key())

    assert str(raised.value) == message
