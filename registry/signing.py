"""Producer signatures and service countersignatures of inventory records.

A producer signs its manifest as OpenSSF model signing (OMS v1.0) does: a DSSE envelope over an
in-toto Statement v1 whose subject digest is the model's root digest and whose predicate lists the
files. We accept that envelope alone or inside OMS's Sigstore bundle (the ``key`` method); the
bundle never chooses the key: the request names a key registered to the model's team, and only that
key is tried. The service countersigns the inventory record with its own key, likewise as DSSE over
an in-toto statement.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.canonical import canonical_json
from core.signing import (
    KeyError_,
    KeyPurpose,
    parse_public_key,
    pem_fingerprint,
    service_key_id,
    service_private_key,
    service_public_key,
)
from hooks import tlog
from hooks.manifest import (
    INTOTO_PAYLOAD_TYPE,
    OMS_PREDICATE_TYPE,
    STATEMENT_TYPE,
    ManifestError,
    root_digest,
    validate_manifest,
)

INVENTORY_PREDICATE_TYPE = "https://modelgov.dev/inventory-record/v1"
SIGSTORE_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"


class SignatureProblem(ValueError):
    """The producer signature does not hold; ``reason`` is a stable short code for the check."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedManifest:
    """What a verified producer signature vouches for."""

    root_digest: str
    resources: list[dict[str, str]]
    predicate: dict[str, Any]
    subject_name: str = ""


def envelope_of(signature: Any) -> dict[str, Any]:
    """The DSSE envelope of a bare envelope or of an OMS Sigstore bundle."""
    if not isinstance(signature, dict):
        raise SignatureProblem("the signature must be a DSSE envelope or a Sigstore bundle", "malformed")
    media_type = signature.get("mediaType")
    if isinstance(media_type, str) and media_type.startswith(SIGSTORE_BUNDLE_PREFIX):
        envelope = signature.get("dsseEnvelope")
        if not isinstance(envelope, dict):
            raise SignatureProblem("the Sigstore bundle carries no dsseEnvelope", "malformed")
        return envelope
    if "payloadType" in signature:
        return signature
    raise SignatureProblem("the signature must be a DSSE envelope or a Sigstore bundle", "malformed")


def verify_producer_signature(*, signature: Any, public_key_pem: str) -> SignedManifest:
    """Verify the producer's envelope with the registered key and read the signed manifest."""
    key, _algorithm = parse_public_key(public_key_pem)
    try:
        payload = tlog.dsse_verify(envelope_of(signature), key, INTOTO_PAYLOAD_TYPE)
    except tlog.EnvelopeError as exc:
        raise SignatureProblem(f"the producer signature does not verify: {exc}", "bad_signature") from None
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignatureProblem("the signed payload is not JSON", "malformed") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise SignatureProblem("the signed payload is not an in-toto Statement v1", "malformed")
    if statement.get("predicateType") != OMS_PREDICATE_TYPE:
        raise SignatureProblem(f"the predicate type must be {OMS_PREDICATE_TYPE}", "malformed")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise SignatureProblem("the statement must have exactly one subject", "malformed")
    digest = subjects[0].get("digest")
    hex_digest = digest.get("sha256") if isinstance(digest, dict) else None
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(hex_digest, str):
        raise SignatureProblem("the statement has no sha256 subject digest or no predicate", "malformed")
    try:
        resources = validate_manifest(
            {key: predicate[key] for key in ("resources", "serialization") if key in predicate}
        )
    except ManifestError as exc:
        raise SignatureProblem(f"the signed manifest is not valid: {exc} at {exc.path}", "malformed") from None
    computed = root_digest(resources)
    if computed != f"sha256:{hex_digest}":
        raise SignatureProblem("the signed subject digest is not the root digest of the signed files", "digest")
    name = subjects[0].get("name")
    return SignedManifest(
        root_digest=computed,
        resources=resources,
        predicate=predicate,
        subject_name=name if isinstance(name, str) else "",
    )


def inventory_record(
    *,
    model_name: str,
    version: int,
    artifact_uri: str,
    artifact_digest: str,
    manifest: dict[str, Any],
    producer_key: str,
    producer_signature: dict[str, Any],
    training_run_id: str,
    metrics: dict[str, Any],
    parameters: dict[str, Any],
    created_by: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The inventory record of a version, the predicate the service countersigns: built from the values
    being stored at registration, and rebuilt from the stored columns when a version is re-verified."""
    return {
        "model": model_name,
        "version": version,
        "artifact_uri": artifact_uri,
        "artifact_digest": artifact_digest,
        "manifest_sha256": hashlib.sha256(canonical_json(manifest)).hexdigest(),
        "producer_key": producer_key,
        "producer_signature_sha256": envelope_sha256(producer_signature),
        "training_run_id": training_run_id,
        "metrics": metrics,
        "parameters": parameters,
        "created_by": created_by,
        "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def inventory_subject(*, model_name: str, artifact_digest: str) -> list[dict[str, Any]]:
    """The subject of the countersigned statement: the model's name and root digest."""
    return [{"name": model_name, "digest": {"sha256": artifact_digest.removeprefix("sha256:")}}]


def inventory_statement(record: dict[str, Any], *, model_name: str, artifact_digest: str) -> bytes:
    """The in-toto statement the service countersigns: subject = the model's root digest."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": inventory_subject(model_name=model_name, artifact_digest=artifact_digest),
        "predicateType": INVENTORY_PREDICATE_TYPE,
        "predicate": record,
    }
    return canonical_json(statement)


def countersign(statement: bytes) -> tuple[dict[str, Any], str]:
    """A DSSE envelope over ``statement`` with the inventory key, and the envelope's SHA-256."""
    key = service_private_key(KeyPurpose.INVENTORY)
    envelope = tlog.dsse_sign(INTOTO_PAYLOAD_TYPE, statement, key.sign, service_key_id(KeyPurpose.INVENTORY))
    return envelope, envelope_sha256(envelope)


def envelope_sha256(envelope: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(envelope)).hexdigest()


def verify_countersignature(envelope: dict[str, Any]) -> dict[str, Any]:
    """Verify the service's envelope and return the statement it signs."""
    payload = tlog.dsse_verify(envelope, service_public_key(KeyPurpose.INVENTORY), INTOTO_PAYLOAD_TYPE)
    statement: dict[str, Any] = json.loads(payload)
    return statement


def key_fingerprint_problem(*, public_key_pem: str, fingerprint: str) -> str | None:
    """Why a stored key is not the key registered under ``fingerprint`` (its public key, parsed and
    fingerprinted again, is unusable or has another fingerprint), or None when it is."""
    try:
        derived = pem_fingerprint(public_key_pem)
    except KeyError_ as exc:
        return f"the signing key's stored public key is not usable: {exc}"
    if derived != fingerprint:
        return f"the signing key's stored public key has fingerprint {derived}, not the registered {fingerprint}"
    return None
