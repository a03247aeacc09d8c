"""Bearer-token authentication on the API: every way a token can be refused, and last-used bookkeeping."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import ApiToken
from governance.services import api_token_create, api_token_revoke
from tests.factories import UserFactory
from tests.helpers import nothing_written


def bearer(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def assert_refused(response, code, message):
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": message, "extra": {}}
    assert response["WWW-Authenticate"] == "Bearer"


def test_valid_token_authenticates_as_its_user(world):
    issued = api_token_create(actor=None, user=world.ci_b, name="t", expires_at=timezone.now() + timedelta(days=1))

    response = bearer(issued.secret).get("/api/v1/models/")

    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["model-b"]


def test_keyword_is_case_insensitive(world):
    issued = api_token_create(actor=None, user=world.ci_b, name="t", expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {issued.secret}")

    assert client.get("/api/v1/models/").status_code == 200


def test_expired_token(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=timezone.now() - timedelta(seconds=1))

    with nothing_written():
        response = bearer(issued.secret).get("/api/v1/models/")

    assert_refused(response, "token_expired", "This token has expired.")
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is None


def test_revoked_token(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    api_token_revoke(actor=world.officer, token=issued.token)

    with nothing_written():
        response = bearer(issued.secret).get("/api/v1/models/")

    assert_refused(response, "token_revoked", "This token was revoked.")


def test_revoked_token_cannot_write(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    api_token_revoke(actor=world.officer, token=issued.token)

    with nothing_written():
        response = bearer(issued.secret).patch("/api/v1/models/model-a/", {"description": "x"}, format="json")

    assert_refused(response, "token_revoked", "This token was revoked.")


@pytest.mark.parametrize("secret", ["mg_not-a-real-token", "x", "mg_" + "A" * 43])
def test_unknown_token(world, secret):
    with nothing_written():
        response = bearer(secret).get("/api/v1/models/")

    assert_refused(response, "token_invalid", "Unknown token.")


def test_token_of_a_hash_is_not_the_token(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)

    response = bearer(issued.token.key_hash).get("/api/v1/models/")

    assert_refused(response, "token_invalid", "Unknown token.")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer  mg_x mg_y"])
def test_malformed_bearer_header(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    with nothing_written():
        response = client.get("/api/v1/models/")

    assert_refused(response, "token_invalid", "Malformed Authorization header.")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", ""])
def test_other_schemes_are_no_credentials(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/models/")

    assert_refused(response, "not_authenticated", "Authentication credentials were not provided.")


@pytest.mark.parametrize("header", ["\xa0", " \t "])
def test_blank_authorization_header_is_no_credentials(world, header):
    # A header of only (Unicode) whitespace must not crash the authenticator: it carries no credentials.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/models/")

    assert_refused(response, "not_authenticated", "Authentication credentials were not provided.")


def test_inactive_account(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    type(world.ci_a).objects.filter(pk=world.ci_a.pk).update(is_active=False)

    with nothing_written():
        response = bearer(issued.secret).get("/api/v1/models/")

    assert_refused(response, "account_inactive", "The token's account is inactive.")


def test_last_used_is_set_on_first_use(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    assert issued.token.last_used_at is None
    started = timezone.now()

    assert bearer(issued.secret).get("/api/v1/models/").status_code == 200

    last_used = ApiToken.objects.get(pk=issued.token.pk).last_used_at
    assert started <= last_used <= timezone.now()


def test_last_used_is_not_rewritten_within_the_resolution(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    client = bearer(issued.secret)
    client.get("/api/v1/models/")
    first = ApiToken.objects.get(pk=issued.token.pk).last_used_at

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/models/").status_code == 200

    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == first
    assert [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "governance_apitoken"')] == []


def test_last_used_is_rewritten_after_the_resolution(world):
    issued = api_token_create(actor=None, user=world.ci_a, name="t", expires_at=None)
    long_ago = timezone.now() - timedelta(seconds=61)
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=long_ago)

    assert bearer(issued.secret).get("/api/v1/models/").status_code == 200

    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at > long_ago + timedelta(seconds=60)


def test_a_token_only_reaches_its_accounts_models(world):
    other = UserFactory(username="lonely-ci")
    issued = api_token_create(actor=None, user=other, name="t", expires_at=None)

    response = bearer(issued.secret).get("/api/v1/models/")

    assert (response.status_code, response.json()["count"]) == (200, 0)
