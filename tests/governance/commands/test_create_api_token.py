"""``manage.py create_api_token``: prints one working token once; only its hash is stored."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import ApiToken
from tests.factories import UserFactory
from tests.helpers import assert_audited, audit_entries_after, last_audit_id, nothing_written


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def test_prints_one_token_that_authenticates_and_expires_in_three_days(world):
    last = last_audit_id()
    started = timezone.now()

    output = run("--user", "ci-b", "--expires-days", "3")

    finished = timezone.now()
    lines = output.splitlines()
    assert len(lines) == 1
    secret = lines[0]
    assert output == secret + "\n"
    token = ApiToken.objects.get(user=world.ci_b)
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (token.name, token.prefix, token.revoked_at, token.last_used_at) == ("cli", secret[:10], None, None)
    assert started + timedelta(days=3) <= token.expires_at <= finished + timedelta(days=3)
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_id, entry.actor_name) == ("API_TOKEN_CREATED", None, "system")
    assert entry.after == {
        "user": "ci-b",
        "name": "cli",
        "prefix": secret[:10],
        "expires_at": token.expires_at.isoformat(),
    }
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.get("/api/v1/models/")
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["model-b"]


def test_default_expiry_is_ninety_days_and_name_is_settable(world):
    started = timezone.now()
    last = last_audit_id()

    run("--user", "ci-a", "--name", "github-actions")

    token = ApiToken.objects.get(user=world.ci_a)
    assert token.name == "github-actions"
    assert started + timedelta(days=90) <= token.expires_at <= timezone.now() + timedelta(days=90)
    [entry] = assert_audited(last, ("API_TOKEN_CREATED", "system", ""))
    assert (entry.after["name"], entry.after["expires_at"]) == ("github-actions", token.expires_at.isoformat())


def test_zero_days_is_a_token_that_never_expires(world):
    last = last_audit_id()

    run("--user", "ci-a", "--expires-days", "0")

    assert ApiToken.objects.get(user=world.ci_a).expires_at is None
    [entry] = assert_audited(last, ("API_TOKEN_CREATED", "system", ""))
    assert entry.after["expires_at"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost"], "no active user named 'ghost'"),
        (["--user", "gone"], "no active user named 'gone'"),
        (["--user", "ci-a", "--expires-days", "-1"], "--expires-days must be 0 or more"),
    ],
)
def test_refusals_write_nothing(world, args, message):
    UserFactory(username="gone", is_active=False)

    with nothing_written(), pytest.raises(CommandError) as raised:
        run(*args)

    assert str(raised.value) == message


def test_an_expiry_beyond_the_calendar_is_a_command_error(world):
    # timezone.now() + timedelta(days=100_000_000) overflows datetime; the command must say so
    # as a CommandError (exit status 1 with a message), not crash with a traceback.
    with nothing_written(), pytest.raises(CommandError):
        run("--user", "ci-a", "--expires-days", "100000000")
