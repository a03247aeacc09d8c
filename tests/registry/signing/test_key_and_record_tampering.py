"""Rows changed behind the service's back. A producer key whose stored public key is not the one its
fingerprint names signs nothing new, and /verify says so; a version whose stored columns are not the
record the service countersigned fails /verify naming each field that differs (the gate's view too).

The key rows are changed here as a superuser with the key table's guard trigger switched off, as
someone who got past it (or a database restored without it) could."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from core.signing import fingerprint, public_key_pem
from registry.models import ModelVersion, SigningKey
from registry.selectors import VerificationCheck, model_version_verify
from registry.services import model_version_register
from tests.conftest import client_for
from tests.factories import make_manifest, make_model, team_key, triggers_disabled, version_payload
from tests.helpers import nothing_written

VERIFY_URL = "/api/v1/models/model-a/versions/{version}/verify"
OK = {
    "digest": {"name": "digest", "ok": True, "reason": ""},
    "producer_signature": {"name": "producer_signature", "ok": True, "reason": ""},
    "signing_key_active": {"name": "signing_key_active", "ok": True, "reason": ""},
    "countersignature": {"name": "countersignature", "ok": True, "reason": ""},
}


def rewrite_key(key: SigningKey, **columns: str) -> None:
    """Set ``columns`` of the key's row in SQL, past the guard trigger."""
    assignments = ", ".join(f"{column} = %s" for column in columns)
    with triggers_disabled("registry_signingkey", "registry_signingkey_guard_update") as cursor:
        cursor.execute(f"UPDATE registry_signingkey SET {assignments} WHERE id = %s", [*columns.values(), key.pk])
        assert cursor.rowcount == 1


def verify(world, version: int = 1) -> dict:
    response = client_for(world.owner_a).get(VERIFY_URL.format(version=version))
    assert response.status_code == 200
    return response.json()


def attacker_key() -> tuple[ed25519.Ed25519PrivateKey, str, str]:
    private = ed25519.Ed25519PrivateKey.generate()
    return private, public_key_pem(private.public_key()), fingerprint(private.public_key())


# --- the key's public key is not its fingerprint's ----------------------------------------------------------


@pytest.mark.parametrize("stored_pem", ["attacker", "not a key"])
def test_registration_with_a_key_whose_public_key_was_swapped_is_refused(world, stored_pem):
    """The attacker puts their public key under the team key's fingerprint and signs with their own
    private key: the signature would verify with the stored PEM, but that PEM is not the registered key."""
    private, pem, _ = attacker_key()
    _, key = team_key(world.team_a)
    rewrite_key(key, public_key_pem=pem if stored_pem == "attacker" else "not a key")
    payload = version_payload(model=world.model_a, manifest=make_manifest("forged"), key=(private, key))

    client = client_for(world.ci_a)
    with nothing_written():
        response = client.post("/api/v1/models/model-a/versions/", payload, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "code": "signing_key_tampered",
        "message": "The stored signing key does not match its fingerprint; it cannot sign new registrations.",
        "extra": {"signing_key": key.fingerprint},
    }


def test_verify_fails_a_version_signed_with_a_swapped_public_key(world):
    """A version registered while the team key's row held the attacker's public key (made here with the
    registration's fingerprint check patched out, as a registration before the check made it), the row
    left that way: its signature verifies with the stored PEM, but the PEM is not the registered key."""
    private, pem, attacker_fingerprint = attacker_key()
    _, key = team_key(world.team_a)
    rewrite_key(key, public_key_pem=pem)
    payload = version_payload(model=world.model_a, manifest=make_manifest("forged"), key=(private, key))
    with mock.patch("registry.services.key_fingerprint_problem", return_value=None):
        forged = model_version_register(actor=world.ci_a, model=world.model_a, **payload)
    assert forged.version == 2

    body = verify(world, version=2)

    assert body["valid"] is False
    assert body["checks"] == [
        OK["digest"],
        {
            "name": "producer_signature",
            "ok": False,
            "reason": f"the signing key's stored public key has fingerprint {attacker_fingerprint}, "
            f"not the registered {key.fingerprint}",
        },
        OK["signing_key_active"],
        OK["countersignature"],
    ]
    # The gate reads the same checks: its signature check fails.
    gate_view = model_version_verify(
        version=ModelVersion.objects.select_related("model", "signing_key", "created_by").get(pk=forged.pk),
        logged_sha256=forged.countersignature_sha256,
        look_up_log=False,
        reuse_verified=True,
    )
    assert gate_view[1] == VerificationCheck("producer_signature", False, body["checks"][1]["reason"])


def test_verify_names_the_producer_key_when_key_and_fingerprint_were_both_swapped(world):
    """A consistent key row (the attacker's PEM under the attacker's fingerprint) in place of the key that
    signed version 1: the countersigned record names the registered fingerprint."""
    _, pem, attacker_fingerprint = attacker_key()
    registered = world.version_a1.signing_key.fingerprint
    rewrite_key(world.version_a1.signing_key, public_key_pem=pem, fingerprint=attacker_fingerprint)

    body = verify(world)

    assert body["valid"] is False
    assert body["checks"][0] == OK["digest"]
    assert body["checks"][1]["ok"] is False
    assert body["checks"][1]["reason"].startswith("the producer signature does not verify: ")
    assert body["checks"][2:] == [
        OK["signing_key_active"],
        {
            "name": "countersignature",
            "ok": False,
            "reason": "it signs another record: the stored version differs in producer_key",
        },
    ]
    assert registered != attacker_fingerprint


# --- the stored record is not the countersigned one ------------------------------------------------------


def _later(world):
    return world.version_a1.created_at + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("artifact_uri", lambda world: "s3://elsewhere/model-a", "artifact_uri"),
        ("training_run_id", lambda world: "another-run", "training_run_id"),
        ("metrics", lambda world: {"auc": 0.99}, "metrics"),
        ("parameters", lambda world: {"max_depth": 60}, "parameters"),
        ("created_at", _later, "created_at"),
    ],
)
def test_verify_names_a_record_field_changed_by_an_update(world, column, value, field):
    """Columns the version's immutability trigger lets the app role change: a plain ORM update."""
    assert ModelVersion.objects.filter(pk=world.version_a1.pk).update(**{column: value(world)}) == 1

    body = verify(world)

    assert body["valid"] is False
    assert body["checks"] == [
        OK["digest"],
        OK["producer_signature"],
        OK["signing_key_active"],
        {
            "name": "countersignature",
            "ok": False,
            "reason": f"it signs another record: the stored version differs in {field}",
        },
    ]


def test_verify_names_every_field_that_differs(world):
    with triggers_disabled("registry_modelversion", "registry_modelversion_immutable") as cursor:
        cursor.execute(
            "UPDATE registry_modelversion SET artifact_uri = %s, metrics = %s::jsonb WHERE id = %s",
            ["s3://elsewhere", json.dumps({"auc": 1}), world.version_a1.pk],
        )

    body = verify(world)

    assert body["checks"][3] == {
        "name": "countersignature",
        "ok": False,
        "reason": "it signs another record: the stored version differs in artifact_uri, metrics",
    }


def test_a_renamed_creator_leaves_the_record_valid(world):
    """The record names the creator as they were called then; the name is read from the user table,
    where a rename is allowed, so it is not compared (the creator's id is guarded by the version trigger)."""
    creator = world.version_a1.created_by
    creator.username = "renamed-" + creator.username
    creator.save(update_fields=["username"])

    body = verify(world)

    assert body["valid"] is True


def test_the_gate_view_sees_a_changed_record(world):
    """The gate keeps signature answers by a digest of what they read: the record's columns are part of it."""
    version = ModelVersion.objects.select_related("model", "signing_key", "created_by").get(pk=world.version_a1.pk)
    logged = version.countersignature_sha256

    def gate_view() -> list[VerificationCheck]:
        return model_version_verify(version=version, logged_sha256=logged, look_up_log=False, reuse_verified=True)

    assert [check.ok for check in gate_view()] == [True, True, True, True]
    version.artifact_uri = "s3://elsewhere/model-a"

    assert gate_view()[3] == VerificationCheck(
        "countersignature", False, "it signs another record: the stored version differs in artifact_uri"
    )


def test_json_values_are_compared_as_json(world):
    """``true`` is not ``1`` (Python's == says it is); a number jsonb gives back in another form (1e20 as
    an integer) is the same number."""
    model = make_model(owner=world.owner_a, team=world.team_a, name="model-j")
    payload = version_payload(model=model, manifest=make_manifest("j1"), metrics={"passed": True, "big": 1e20})
    version = model_version_register(actor=world.ci_a, model=model, **payload)
    stored = ModelVersion.objects.get(pk=version.pk)
    assert stored.metrics == {"passed": True, "big": 10**20}
    assert isinstance(stored.metrics["big"], int)
    url = f"/api/v1/models/model-j/versions/{version.version}/verify"
    assert client_for(world.owner_a).get(url).json()["valid"] is True

    ModelVersion.objects.filter(pk=version.pk).update(metrics={"passed": 1, "big": 1e20})

    body = client_for(world.owner_a).get(url).json()
    assert body["checks"][3] == {
        "name": "countersignature",
        "ok": False,
        "reason": "it signs another record: the stored version differs in metrics",
    }
