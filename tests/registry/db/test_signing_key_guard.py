"""A producer key's row, whoever asks the database: its public key, fingerprint, algorithm, team and
creator never change, its revocation is set once and then final, and it is never deleted. The revoke
itself still works."""

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from governance.models import AuditEntry
from registry.models import SigningKey
from registry.services import signing_key_revoke
from tests.factories import team_key
from tests.helpers import assert_audited, last_audit_id, refused_by_database

IDENTITY = "modelgov: a signing key's public key, fingerprint, algorithm, team and creator never change"
REVOCATION = "modelgov: a signing key's revocation is final"
DELETE = "modelgov: a signing key is never deleted; revoke it"


def key_rows():
    return list(SigningKey.objects.order_by("pk").values())


@pytest.fixture
def key(world):
    return team_key(world.team_a)[1]


@pytest.fixture
def revoked(world, key):
    return signing_key_revoke(actor=world.officer, signing_key=key, reason="laptop stolen")


def test_revoke_still_works(world, key):
    last = last_audit_id()

    revoked = signing_key_revoke(actor=world.owner_a, signing_key=key, reason="rotated")

    stored = SigningKey.objects.get(pk=key.pk)
    assert (stored.revoked_at, stored.revoked_by_id, stored.revocation_reason) == (
        revoked.revoked_at,
        world.owner_a.pk,
        "rotated",
    )
    assert stored.revoked_at is not None
    [entry] = assert_audited(last, ("SIGNING_KEY_REVOKED", "owner-a", ""))
    assert entry.after == {"team": "team-a", "fingerprint": key.fingerprint, "reason": "rotated"}


def test_revoking_twice_writes_nothing_more(world, revoked):
    rows, entries = key_rows(), AuditEntry.objects.count()

    again = signing_key_revoke(actor=world.owner_a, signing_key=revoked, reason="again")

    assert (again.revocation_reason, key_rows(), AuditEntry.objects.count()) == ("laptop stolen", rows, entries)


def test_a_revoke_in_sql_is_allowed(world, key):
    """The database refuses what the service never does, not the revoke."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_signingkey SET revoked_at = now(), revoked_by_id = %s, revocation_reason = 'x' "
            "WHERE id = %s",
            [world.officer.pk, key.pk],
        )
    assert SigningKey.objects.get(pk=key.pk).revoked_at is not None


def test_renaming_an_active_key_is_allowed(key):
    SigningKey.objects.filter(pk=key.pk).update(name="renamed")

    assert SigningKey.objects.get(pk=key.pk).name == "renamed"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("public_key_pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"),
        ("fingerprint", "0" * 64),
        ("algorithm", "ecdsa-p256"),
        ("team_id", "team-b"),
        ("created_by_id", "officer"),
        ("created_at", "2020-01-01T00:00:00Z"),
    ],
)
@pytest.mark.parametrize("state", ["active", "revoked"])
def test_identity_of_a_key_cannot_change(world, key, column, value, state):
    if state == "revoked":
        signing_key_revoke(actor=world.officer, signing_key=key, reason="rotated")
    value = {"team-b": world.team_b.pk, "officer": world.officer.pk}.get(value, value)
    before = key_rows()

    message = refused_by_database(f"UPDATE registry_signingkey SET {column} = %s WHERE id = %s", [value, key.pk])

    assert message.startswith(IDENTITY)
    assert key_rows() == before


def test_orm_update_of_the_public_key_is_refused(world, key):
    other = team_key(world.team_b)[1]
    before = key_rows()

    with pytest.raises(ProgrammingError, match=f"^{IDENTITY}"), transaction.atomic():
        SigningKey.objects.filter(pk=key.pk).update(public_key_pem=other.public_key_pem)

    assert key_rows() == before


@pytest.mark.parametrize(
    ("assignment", "params"),
    [
        ("revoked_at = NULL", []),
        ("revoked_at = NULL, revoked_by_id = NULL, revocation_reason = ''", []),
        ("revoked_at = %s", ["later"]),
        ("revoked_by_id = %s", ["owner-a"]),
        ("revocation_reason = %s", ["never happened"]),
    ],
    ids=["un-revoke", "un-revoke-all", "move-revoked-at", "change-revoker", "change-reason"],
)
def test_revocation_is_final(world, revoked, assignment, params):
    params = [{"later": timezone.now(), "owner-a": world.owner_a.pk}.get(param, param) for param in params]
    before = key_rows()

    message = refused_by_database(f"UPDATE registry_signingkey SET {assignment} WHERE id = %s", [*params, revoked.pk])

    assert message.startswith(REVOCATION)
    assert key_rows() == before
    assert SigningKey.objects.get(pk=revoked.pk).revoked_at == revoked.revoked_at


def test_orm_save_of_a_revoked_key_as_active_is_refused(revoked):
    stale = SigningKey.objects.get(pk=revoked.pk)
    stale.revoked_at = None
    before = key_rows()

    with pytest.raises(ProgrammingError, match=f"^{REVOCATION}"), transaction.atomic():
        stale.save()

    assert key_rows() == before


@pytest.mark.parametrize("state", ["active", "revoked"])
def test_delete_is_refused(world, state):
    """Even a key that signed nothing (no foreign key protects it)."""
    key = team_key(world.team_a, algorithm="ecdsa-p256")[1]
    if state == "revoked":
        signing_key_revoke(actor=world.officer, signing_key=key, reason="rotated")
    assert not key.versions.exists()
    before = key_rows()

    message = refused_by_database("DELETE FROM registry_signingkey WHERE id = %s", [key.pk])

    assert message.startswith(DELETE)
    assert key_rows() == before


def test_replica_session_role_does_not_switch_the_triggers_off(world, revoked):
    before = key_rows()

    message = refused_by_database(
        "UPDATE registry_signingkey SET revoked_at = NULL WHERE id = %s",
        [revoked.pk],
        setup=["SET LOCAL session_replication_role = replica"],
    )

    assert message.startswith(REVOCATION)
    assert key_rows() == before


def test_triggers_are_enabled_always(db):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relname = 'registry_signingkey' AND NOT t.tgisinternal ORDER BY t.tgname
            """
        )
        assert cursor.fetchall() == [
            ("registry_signingkey_guard_delete", "A"),
            ("registry_signingkey_guard_update", "A"),
        ]
