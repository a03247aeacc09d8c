"""API tokens: created with only their hash stored, revoked once, audited."""

import hashlib
from datetime import timedelta

from django.utils import timezone

from governance.models import ApiToken, AuditEntry
from governance.services import api_token_create, api_token_revoke
from tests.helpers import assert_audited, audit_entries_after, last_audit_id, nothing_written


def test_only_the_sha256_of_the_secret_is_stored(world):
    issued = api_token_create(actor=world.officer, user=world.ci_a, name="pipeline", expires_at=None)

    secret = issued.secret
    assert secret.startswith("mg_")
    assert len(secret) == 46
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["prefix"] == secret[:10]
    for column, value in row.items():
        assert secret not in str(value), column
    for entry in AuditEntry.objects.all():
        assert secret.encode() not in bytes(entry.entry_bytes)
        assert secret not in str(entry.after)


def test_two_tokens_never_share_a_secret(world):
    last = last_audit_id()

    first = api_token_create(actor=None, user=world.ci_a, name="one", expires_at=None)
    second = api_token_create(actor=None, user=world.ci_a, name="two", expires_at=None)

    assert first.secret != second.secret
    assert first.token.key_hash != second.token.key_hash
    entries = assert_audited(last, ("API_TOKEN_CREATED", "system", ""), ("API_TOKEN_CREATED", "system", ""))
    assert [entry.subject_id for entry in entries] == [str(first.token.pk), str(second.token.pk)]


def test_creation_is_audited(world):
    expires = timezone.now() + timedelta(days=7)
    last = last_audit_id()

    issued = api_token_create(actor=world.officer, user=world.ci_a, name="pipeline", expires_at=expires)

    [entry] = audit_entries_after(last)
    assert entry.event_type == "API_TOKEN_CREATED"
    assert (entry.actor_id, entry.actor_name) == (world.officer.pk, "officer")
    assert (entry.subject_type, entry.subject_id) == ("governance.ApiToken", str(issued.token.pk))
    assert entry.model_name == ""
    assert entry.before is None
    assert entry.after == {
        "user": "ci-a",
        "name": "pipeline",
        "prefix": issued.secret[:10],
        "expires_at": expires.isoformat(),
    }


def test_revocation_is_audited_once(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="pipeline", expires_at=None)
    last = last_audit_id()

    revoked = api_token_revoke(actor=world.officer, token=issued.token)

    assert revoked.revoked_at is not None
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at == revoked.revoked_at
    [entry] = audit_entries_after(last)
    assert entry.event_type == "API_TOKEN_REVOKED"
    assert (entry.actor_name, entry.subject_type, entry.subject_id) == (
        "officer",
        "governance.ApiToken",
        str(issued.token.pk),
    )
    assert entry.before is None
    assert entry.after == {"user": "ci-a", "prefix": issued.secret[:10]}


def test_revoking_twice_changes_and_writes_nothing(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="pipeline", expires_at=None)
    first = api_token_revoke(actor=world.officer, token=issued.token)

    with nothing_written():
        second = api_token_revoke(actor=world.auditor, token=issued.token)

    assert second.revoked_at == first.revoked_at
    assert AuditEntry.objects.filter(event_type="API_TOKEN_REVOKED").count() == 1
