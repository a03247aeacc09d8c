"""Re-verifying a registered version, the service's public keys, and the service countersignature:
a DSSE envelope over an in-toto statement of the inventory record whose hash is in the audit log."""

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.canonical import canonical_json
from core.signing import KeyPurpose, public_key_pem, service_public_key
from governance.models import AuditEntry
from hooks import tlog
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE
from registry.models import ModelVersion
from registry.services import signing_key_revoke
from registry.signing import INVENTORY_PREDICATE_TYPE
from tests.conftest import client_for
from tests.factories import triggers_disabled

VERIFY_URL = "/api/v1/models/model-a/versions/1/verify"
ALL_OK = [
    {"name": "digest", "ok": True, "reason": ""},
    {"name": "producer_signature", "ok": True, "reason": ""},
    {"name": "signing_key_active", "ok": True, "reason": ""},
    {"name": "countersignature", "ok": True, "reason": ""},
]


def set_countersignature(version: ModelVersion, envelope: dict) -> None:
    """Rewrite the stored envelope as a superuser past the version's immutability trigger."""
    with triggers_disabled("registry_modelversion", "registry_modelversion_immutable") as cursor:
        cursor.execute(
            "UPDATE registry_modelversion SET countersignature = %s::jsonb WHERE id = %s",
            [json.dumps(envelope), version.pk],
        )
        assert cursor.rowcount == 1


def test_fresh_version_verifies(world):
    response = client_for(world.owner_a).get(VERIFY_URL)
    assert response.status_code == 200
    assert response.json() == {
        "model": "model-a",
        "version": 1,
        "artifact_digest": world.version_a1.artifact_digest,
        "valid": True,
        "checks": ALL_OK,
    }


def test_revoked_key_shows_but_the_version_stays_valid(world):
    key = signing_key_revoke(actor=world.officer, signing_key=world.version_a1.signing_key, reason="rotated")
    body = client_for(world.owner_a).get(VERIFY_URL).json()
    assert body["valid"] is True
    assert body["checks"] == [
        ALL_OK[0],
        ALL_OK[1],
        {"name": "signing_key_active", "ok": False, "reason": f"the key was revoked at {key.revoked_at.isoformat()}"},
        ALL_OK[3],
    ]


def test_tampered_countersignature_fails_its_check(world):
    envelope = dict(world.version_a1.countersignature)
    signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    signature[0] ^= 0x01
    envelope["signatures"] = [{**envelope["signatures"][0], "sig": base64.b64encode(bytes(signature)).decode()}]
    set_countersignature(world.version_a1, envelope)
    body = client_for(world.owner_a).get(VERIFY_URL).json()
    assert body["valid"] is False
    assert body["checks"][:3] == ALL_OK[:3]
    assert body["checks"][3]["name"] == "countersignature"
    assert body["checks"][3]["ok"] is False
    assert body["checks"][3]["reason"].startswith("the service signature does not verify: ")


def test_countersignature_of_another_version_fails_its_check(world):
    """A valid service signature, but over model-b's record."""
    set_countersignature(world.version_a1, world.version_b1.countersignature)
    body = client_for(world.owner_a).get(VERIFY_URL).json()
    assert body["valid"] is False
    assert body["checks"][3] == {
        "name": "countersignature",
        "ok": False,
        "reason": "it signs another record: the stored version differs in subject, artifact_digest, artifact_uri, "
        "created_at, manifest_sha256, model, producer_key, producer_signature_sha256",
    }


def test_verify_is_404_for_a_model_you_may_not_view(world):
    response = client_for(world.owner_b).get(VERIFY_URL)
    assert response.status_code == 404
    assert response.json()["code"] == "model_not_found"


def test_service_keys_are_public(world):
    response = client_for(None).get("/api/v1/keys/")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert [(key["purpose"], key["algorithm"]) for key in keys] == [
        ("log_checkpoint", "ed25519"),
        ("inventory_countersignature", "ed25519"),
        ("gate_decision", "ed25519"),
    ]
    for key in keys:
        public = serialization.load_pem_public_key(key["public_key_pem"].encode("ascii"))
        assert isinstance(public, Ed25519PublicKey)
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert key["fingerprint"] == hashlib.sha256(der).hexdigest()
        assert key["public_key_pem"] == public_key_pem(service_public_key(KeyPurpose(key["purpose"])))
    assert len({key["fingerprint"] for key in keys}) == 3


def test_countersignature_is_the_logged_inventory_record(world):
    version = ModelVersion.objects.get(pk=world.version_a1.pk)
    payload = tlog.dsse_verify(version.countersignature, service_public_key(KeyPurpose.INVENTORY), INTOTO_PAYLOAD_TYPE)
    statement = json.loads(payload)
    assert statement["_type"] == STATEMENT_TYPE
    assert statement["predicateType"] == INVENTORY_PREDICATE_TYPE
    assert statement["subject"] == [
        {"name": "model-a", "digest": {"sha256": version.artifact_digest.removeprefix("sha256:")}}
    ]
    envelope_sha256 = hashlib.sha256(canonical_json(version.countersignature)).hexdigest()
    entry = AuditEntry.objects.get(
        event_type="MODEL_VERSION_REGISTERED", subject_type="registry.ModelVersion", subject_id=str(version.pk)
    )
    assert envelope_sha256 == version.countersignature_sha256 == entry.after["countersignature_sha256"]
    # The logged record is the signed record, plus the file count and the envelope's hash.
    record = statement["predicate"]
    assert {
        key: value for key, value in entry.after.items() if key not in ("resources", "countersignature_sha256")
    } == record
    assert (record["model"], record["version"], record["artifact_digest"], record["producer_key"]) == (
        "model-a",
        1,
        version.artifact_digest,
        version.signing_key.fingerprint,
    )
    assert entry.after["resources"] == len(version.manifest["resources"])
    # The same bytes are in the entry the transparency log hashes.
    assert json.loads(bytes(entry.entry_bytes))["after"]["countersignature_sha256"] == envelope_sha256


@pytest.mark.parametrize("purpose", [KeyPurpose.LOG_CHECKPOINT, KeyPurpose.GATE_DECISION])
def test_countersignature_does_not_verify_with_the_other_service_keys(world, purpose):
    with pytest.raises(tlog.EnvelopeError, match=r"^no signature of the envelope verifies with the given key$"):
        tlog.dsse_verify(world.version_a1.countersignature, service_public_key(purpose), INTOTO_PAYLOAD_TYPE)
