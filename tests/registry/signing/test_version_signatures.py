"""Registering a version verifies the producer's signature (DSSE over an OMS in-toto statement, bare
or in a Sigstore bundle) with the team key the request names, and only with that key."""

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from core.canonical import canonical_json
from core.signing import public_key_pem
from governance.models import AuditEntry
from registry.models import ModelVersion
from registry.services import signing_key_register, signing_key_revoke
from tests.conftest import client_for
from tests.factories import make_manifest, manifest_digest, team_key, version_payload

URL = "/api/v1/models/model-a/versions/"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def counts() -> tuple[int, int]:
    return AuditEntry.objects.count(), ModelVersion.objects.count()


def assert_registered(world: Any, response: Any, manifest: dict[str, Any], fingerprint: str, before: tuple[int, int]):
    assert response.status_code == 201, response.json()
    body = response.json()
    digest = manifest_digest(manifest)
    assert (body["model"], body["version"], body["artifact_digest"], body["signing_key"], body["created_by"]) == (
        "model-a",
        2,
        digest,
        fingerprint,
        "ci-a",
    )
    version = ModelVersion.objects.get(model=world.model_a, version=2)
    entry = AuditEntry.objects.order_by("-id").first()
    assert counts() == (before[0] + 1, before[1] + 1)
    assert (entry.event_type, entry.actor_name, entry.model_name, entry.subject_type, entry.subject_id) == (
        "MODEL_VERSION_REGISTERED",
        "ci-a",
        "model-a",
        "registry.ModelVersion",
        str(version.pk),
    )
    assert entry.after["producer_key"] == fingerprint
    assert entry.after["artifact_digest"] == digest
    assert (
        entry.after["producer_signature_sha256"]
        == hashlib.sha256(canonical_json(body["producer_signature"])).hexdigest()
    )
    assert entry.after["countersignature_sha256"] == version.countersignature_sha256
    return version


def assert_refused(response: Any, status: int, code: str, extra: dict[str, Any], before: tuple[int, int]) -> None:
    assert response.status_code == status, response.json()
    assert (response.json()["code"], response.json()["extra"]) == (code, extra)
    assert counts() == before


def test_ed25519_envelope_registers(world):
    client = client_for(world.ci_a)
    key = team_key(world.team_a)
    manifest = make_manifest("ed25519")
    before = counts()
    response = client.post(URL, version_payload(model=world.model_a, manifest=manifest, key=key), format="json")
    version = assert_registered(world, response, manifest, key[1].fingerprint, before)
    assert version.signing_key.algorithm == "ed25519"


def test_ecdsa_p256_envelope_registers(world):
    client = client_for(world.ci_a)
    key = team_key(world.team_a, algorithm="ecdsa-p256")
    manifest = make_manifest("ecdsa")
    before = counts()
    response = client.post(URL, version_payload(model=world.model_a, manifest=manifest, key=key), format="json")
    version = assert_registered(world, response, manifest, key[1].fingerprint, before)
    assert version.signing_key.algorithm == "ecdsa-p256"


def test_oms_sigstore_bundle_registers(world):
    client = client_for(world.ci_a)
    key = team_key(world.team_a)
    manifest = make_manifest("sigstore")
    payload = version_payload(model=world.model_a, manifest=manifest, key=key)
    bundle = {
        "mediaType": SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": "x"}},
        "dsseEnvelope": payload["signature"],
    }
    before = counts()
    response = client.post(URL, {**payload, "signature": bundle}, format="json")
    version = assert_registered(world, response, manifest, key[1].fingerprint, before)
    assert version.producer_signature == bundle


def test_manifest_changed_after_signing_is_refused(world):
    client = client_for(world.ci_a)
    key = team_key(world.team_a)
    payload = version_payload(model=world.model_a, manifest=make_manifest("tampered"), key=key)
    envelope = payload["signature"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["resources"][0]["digest"] = hashlib.sha256(b"another file").hexdigest()
    # Consistent in itself: the subject digest follows the changed file list.
    statement["subject"][0]["digest"]["sha256"] = manifest_digest(statement["predicate"]).removeprefix("sha256:")
    envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
    before = counts()
    response = client.post(URL, payload, format="json")
    assert_refused(
        response, 400, "invalid_signature", {"reason": "bad_signature", "signing_key": key[1].fingerprint}, before
    )


def test_key_of_another_team_is_refused(world):
    client = client_for(world.ci_a)
    key_b = team_key(world.team_b)
    before = counts()
    response = client.post(
        URL, version_payload(model=world.model_a, manifest=make_manifest("b"), key=key_b), format="json"
    )
    assert_refused(
        response, 400, "signing_key_not_for_team", {"signing_key": key_b[1].fingerprint, "team": "team-a"}, before
    )


def test_signature_by_one_team_key_naming_another_is_refused(world):
    client = client_for(world.ci_a)
    private, _ = team_key(world.team_a)
    _, named = team_key(world.team_a, algorithm="ecdsa-p256")
    payload = version_payload(model=world.model_a, manifest=make_manifest("named"), key=(private, named))
    assert payload["signing_key"] == named.fingerprint
    before = counts()
    response = client.post(URL, payload, format="json")
    assert_refused(
        response, 400, "invalid_signature", {"reason": "bad_signature", "signing_key": named.fingerprint}, before
    )


def test_revoked_key_is_refused(world):
    client = client_for(world.ci_a)
    private = ed25519.Ed25519PrivateKey.generate()
    key = signing_key_register(
        actor=world.officer, team="team-a", name="to be revoked", public_key_pem=public_key_pem(private.public_key())
    )
    key = signing_key_revoke(actor=world.officer, signing_key=key, reason="leaked")
    before = counts()
    payload = version_payload(model=world.model_a, manifest=make_manifest("revoked"), key=(private, key))
    response = client.post(URL, payload, format="json")
    assert_refused(
        response,
        400,
        "signing_key_revoked",
        {"signing_key": key.fingerprint, "revoked_at": key.revoked_at.isoformat()},
        before,
    )


def test_unknown_fingerprint_is_refused(world):
    client = client_for(world.ci_a)
    payload = {**version_payload(model=world.model_a, manifest=make_manifest("unknown")), "signing_key": "0" * 64}
    before = counts()
    response = client.post(URL, payload, format="json")
    assert_refused(response, 400, "unknown_signing_key", {"signing_key": "0" * 64}, before)


def test_envelope_signed_for_another_model_is_refused(world):
    """The producer signs the model's name into the statement's subject (hooks.manifest.oms_statement):
    an envelope signed for model-b, even by a team-a key, must not register a version of model-a."""
    client = client_for(world.ci_a)
    key = team_key(world.team_a)
    payload = version_payload(model=world.model_b, manifest=make_manifest("other-model"), key=key)
    statement = json.loads(base64.b64decode(payload["signature"]["payload"]))
    assert statement["subject"][0]["name"] == "model-b"
    before = counts()
    response = client.post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_signature"
    assert counts() == before
