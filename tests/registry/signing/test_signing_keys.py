"""Producer keys through the API: registered to a team (ECDSA P-256 or Ed25519 only), revoked, and
who may do either. Every write is logged; every refusal writes nothing."""

import hashlib
from typing import Any

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from core.signing import public_key_pem
from governance.models import AuditEntry
from registry.models import SigningKey
from tests.conftest import client_for
from tests.factories import team_key
from tests.helpers import nothing_written
from tests.registry.signing.support import sm2_public_key_pem

URL = "/api/v1/signing-keys/"


def counts() -> tuple[int, int, int]:
    return (
        AuditEntry.objects.count(),
        SigningKey.objects.count(),
        SigningKey.objects.filter(revoked_at__isnull=False).count(),
    )


def fingerprint_of(public: Any) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize(
    ("private", "algorithm"),
    [(ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256"), (ed25519.Ed25519PrivateKey.generate(), "ed25519")],
    ids=["ecdsa-p256", "ed25519"],
)
def test_team_member_registers_a_key(world, private, algorithm):
    client = client_for(world.owner_a)
    pem = public_key_pem(private.public_key())
    before = counts()
    response = client.post(URL, {"team": "team-a", "name": "laptop", "public_key_pem": pem}, format="json")
    assert response.status_code == 201, response.json()
    fingerprint = fingerprint_of(private.public_key())
    body = response.json()
    assert body == {
        "fingerprint": fingerprint,
        "name": "laptop",
        "team": "team-a",
        "algorithm": algorithm,
        "public_key_pem": pem,
        "active": True,
        "created_by": "owner-a",
        "created_at": body["created_at"],
        "revoked_at": None,
        "revoked_by": None,
        "revocation_reason": "",
    }
    assert counts() == (before[0] + 1, before[1] + 1, before[2])
    entry = AuditEntry.objects.order_by("-id").first()
    key = SigningKey.objects.get(fingerprint=fingerprint)
    assert (entry.event_type, entry.actor_name, entry.subject_type, entry.subject_id, entry.after) == (
        "SIGNING_KEY_REGISTERED",
        "owner-a",
        "registry.SigningKey",
        str(key.pk),
        {"team": "team-a", "name": "laptop", "algorithm": algorithm, "fingerprint": fingerprint},
    )


def pem_of(public: Any) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_the_sm2_key_is_one_cryptography_cannot_load():
    """The control for the sm2 case below: the PEM is well formed, and loading it raises
    UnsupportedAlgorithm (not the ValueError of a malformed key)."""
    with pytest.raises(UnsupportedAlgorithm, match=r"^Curve 1\.2\.156\.10197\.1\.301 is not supported$"):
        serialization.load_pem_public_key(sm2_public_key_pem().encode("ascii"))


@pytest.mark.parametrize(
    ("pem", "status", "code"),
    [
        (pem_of(ec.generate_private_key(ec.SECP384R1()).public_key()), 400, "unsupported_key_algorithm"),
        (sm2_public_key_pem(), 400, "unsupported_key_algorithm"),
        (
            pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
            400,
            "unsupported_key_algorithm",
        ),
        (pem_of(x25519.X25519PrivateKey.generate().public_key()), 400, "unsupported_key_algorithm"),
        ("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n", 400, "invalid_public_key"),
        ("not a pem at all", 400, "invalid_public_key"),
        ("-----BEGIN PUBLIC KEY-----\nÄÖÜ\n-----END PUBLIC KEY-----\n", 400, "invalid_public_key"),
        (
            ed25519.Ed25519PrivateKey.generate()
            .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            .decode(),
            400,
            "invalid_public_key",
        ),
    ],
    ids=["secp384r1", "sm2", "rsa-2048", "x25519", "garbage-pem", "not-pem", "non-ascii", "private-key"],
)
def test_unusable_key_is_refused(world, pem, status, code):
    client = client_for(world.owner_a)
    with nothing_written():
        response = client.post(URL, {"team": "team-a", "name": "bad", "public_key_pem": pem}, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


def test_sm2_key_is_refused_with_the_reason(world):
    client = client_for(world.owner_a)
    with nothing_written():
        response = client.post(
            URL, {"team": "team-a", "name": "sm2", "public_key_pem": sm2_public_key_pem()}, format="json"
        )
    assert response.status_code == 400
    assert response.json() == {
        "code": "unsupported_key_algorithm",
        "message": "the key's algorithm is not accepted (Curve 1.2.156.10197.1.301 is not supported); "
        "use ECDSA P-256 or Ed25519",
        "extra": {},
    }


@pytest.mark.parametrize(("user", "team"), [("owner_a", "team-a"), ("officer", "team-b")])
def test_duplicate_key_is_409(world, user, team):
    """A public key is registered once, whatever the team."""
    client = client_for(getattr(world, user))
    _, existing = team_key(world.team_a)
    before = counts()
    response = client.post(
        URL, {"team": team, "name": "again", "public_key_pem": existing.public_key_pem}, format="json"
    )
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["extra"]) == (
        "duplicate_signing_key",
        {"signing_key": existing.fingerprint},
    )
    assert counts() == before


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ("owner_b", 400, "not_team_member"),
        ("auditor", 403, "permission_denied"),
        ("ci_a", 403, "permission_denied"),
        ("validator", 403, "permission_denied"),
    ],
)
def test_others_may_not_register_keys_for_a_team(world, user, status, code):
    client = client_for(getattr(world, user))
    pem = public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key())
    before = counts()
    response = client.post(URL, {"team": "team-a", "name": "intruder", "public_key_pem": pem}, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert counts() == before


def test_anonymous_may_not_register_keys(world):
    pem = public_key_pem(ed25519.Ed25519PrivateKey.generate().public_key())
    before = counts()
    response = client_for(None).post(URL, {"team": "team-a", "name": "x", "public_key_pem": pem}, format="json")
    assert response.status_code == 401
    assert counts() == before


def test_team_member_revokes_a_key_once(world):
    client = client_for(world.owner_a)
    _, key = team_key(world.team_a)
    before = counts()
    response = client.post(f"{URL}{key.fingerprint}/revoke", {"reason": "laptop stolen"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["active"], body["revoked_by"], body["revocation_reason"]) == (False, "owner-a", "laptop stolen")
    assert counts() == (before[0] + 1, before[1], before[2] + 1)
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.event_type, entry.actor_name, entry.subject_type, entry.subject_id, entry.after) == (
        "SIGNING_KEY_REVOKED",
        "owner-a",
        "registry.SigningKey",
        str(key.pk),
        {"team": "team-a", "fingerprint": key.fingerprint, "reason": "laptop stolen"},
    )
    again = client.post(f"{URL}{key.fingerprint}/revoke", {"reason": "again"}, format="json")
    assert again.status_code == 200
    assert again.json()["revocation_reason"] == "laptop stolen"
    assert counts() == (before[0] + 1, before[1], before[2] + 1)


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ("owner_b", 404, "signing_key_not_found"),  # not their team's: its existence is not revealed
        ("auditor", 403, "permission_denied"),
        ("ci_a", 403, "permission_denied"),
    ],
)
def test_others_may_not_revoke_a_teams_key(world, user, status, code):
    client = client_for(getattr(world, user))
    _, key = team_key(world.team_a)
    before = counts()
    response = client.post(f"{URL}{key.fingerprint}/revoke", {"reason": "mischief"}, format="json")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert counts() == before
    assert SigningKey.objects.get(pk=key.pk).revoked_at is None


def test_key_list_shows_a_member_only_their_teams_keys(world):
    team_key(world.team_a, algorithm="ecdsa-p256")
    listed = client_for(world.owner_b).get(URL).json()["results"]
    assert {item["team"] for item in listed} == {"team-b"}
    everything = client_for(world.auditor).get(URL).json()["results"]
    assert {item["team"] for item in everything} == {"team-a", "team-b"}
    assert len(everything) == SigningKey.objects.count()
