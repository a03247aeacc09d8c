"""Offline verification of a gate decision envelope (Django-free)."""

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hooks import tlog
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE

GATE_PREDICATE_TYPE = "https://modelgov.dev/gate-decision/v1"


class DecisionInvalid(ValueError):
    """The envelope does not verify, or is not a gate decision, or is not the one expected."""


@dataclass(frozen=True)
class VerifiedDecision:
    decision: str
    model: str
    version: int
    target_stage: str
    artifact_digest: str
    decision_id: str
    predicate: dict[str, Any]


def load_verification_key(pem: bytes) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:  # not PEM, or a key type or curve OpenSSL does not know
        raise DecisionInvalid(f"the gate key is not a usable public key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise DecisionInvalid("the gate key must be Ed25519 or ECDSA P-256")
    return key


def verify_decision(
    envelope: Any,
    key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey,
    *,
    expect: dict[str, Any] | None = None,
    expect_predicate: dict[str, Any] | None = None,
) -> VerifiedDecision:
    """Verify the DSSE envelope with the pinned key and read the decision. ``expect`` may pin
    ``model``, ``version``, ``target_stage`` and ``artifact_digest`` (None: not pinned);
    ``expect_predicate`` pins predicate fields exactly, by JSON type and value (a field the predicate
    lacks is null), e.g. the request's ``nonce``, ``dry_run`` and ``promote``. A mismatch is an error."""
    if isinstance(envelope, dict) and "envelope" in envelope and "payloadType" not in envelope:
        envelope = envelope["envelope"]  # a whole gate response was given
    try:
        payload = tlog.dsse_verify(envelope, key, INTOTO_PAYLOAD_TYPE)
        statement = json.loads(payload)
    except (tlog.EnvelopeError, ValueError, RecursionError) as exc:
        raise DecisionInvalid(f"the decision envelope does not verify: {exc}") from None
    if (
        not isinstance(statement, dict)
        or statement.get("_type") != STATEMENT_TYPE
        or statement.get("predicateType") != GATE_PREDICATE_TYPE
    ):
        raise DecisionInvalid("the envelope is not a modelgov gate decision")
    predicate, subjects = statement.get("predicate"), statement.get("subject")
    # Signed by the pinned key, yet read as untrusted input: a wrong shape is an invalid decision.
    if not isinstance(predicate, dict) or not isinstance(subjects, list) or len(subjects) != 1:
        raise DecisionInvalid("the gate decision has no predicate object or not exactly one subject")
    subject_digest = subjects[0].get("digest") if isinstance(subjects[0], dict) else None
    sha256 = subject_digest.get("sha256") if isinstance(subject_digest, dict) else None
    version = predicate.get("version")
    if not isinstance(sha256, str) or not isinstance(version, int) or isinstance(version, bool):
        raise DecisionInvalid("the gate decision has no sha256 subject digest or no integer version")
    verified = VerifiedDecision(
        decision=str(predicate.get("decision")),
        model=str(predicate.get("model")),
        version=version,
        target_stage=str(predicate.get("target_stage")),
        artifact_digest=f"sha256:{sha256}",
        decision_id=str(predicate.get("decision_id")),
        predicate=predicate,
    )
    for field, wanted in (expect or {}).items():
        if wanted is not None and getattr(verified, field) != wanted:
            raise DecisionInvalid(f"the decision is for {field} {getattr(verified, field)!r}, not {wanted!r}")
    for field, wanted in (expect_predicate or {}).items():
        signed = predicate.get(field)
        # type() too: True == 1 in Python, not in JSON.
        if type(signed) is not type(wanted) or signed != wanted:
            raise DecisionInvalid(f"the decision is for {field} {signed!r}, not {wanted!r}")
    return verified
