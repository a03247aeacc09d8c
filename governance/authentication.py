"""Bearer-token authentication for machines (``Authorization: Bearer <token>``)."""

from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core import dbsession, prepared
from governance.models import ApiToken
from governance.services import api_token_touch, hash_token

_TOKEN_FIELDS = ("id", "user_id", "expires_at", "revoked_at", "last_used_at")


@cache
def _token_sql() -> tuple[str, list[str]]:
    user_model = get_user_model()
    user_fields = [field.attname for field in user_model._meta.concrete_fields]
    columns = [f"t.{name}" for name in _TOKEN_FIELDS] + [f"u.{connection.ops.quote_name(name)}" for name in user_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {ApiToken._meta.db_table} t "  # noqa: S608 (model metadata only)
        f"JOIN {user_model._meta.db_table} u ON u.id = t.user_id WHERE t.key_hash = %s"
    )
    return sql, user_fields


def _token_with_user(key_hash: str) -> ApiToken | None:
    """The token and its user in one fixed statement (it runs before every API call): the same rows
    as ``ApiToken.objects.select_related("user")``, without compiling an ORM query each time. The
    token's other fields are deferred and load on first use."""
    if connection.vendor != "postgresql":
        # SQLite (the demo) hands raw datetimes back naive: take the ORM's converters there.
        return ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    sql, user_fields = _token_sql()

    def read(cursor: Any) -> Any:
        prepared.execute(cursor, sql, [key_hash])  # planned once per session: it runs before every call
        return cursor.fetchone()

    # The first statement of an API call: it stands in for the connection's health check.
    row = dbsession.read_checking_session(read)
    if row is None:
        return None
    # from_db applies no converters: PostgreSQL's driver returns aware datetimes under USE_TZ already.
    token = ApiToken.from_db(connection.alias, list(_TOKEN_FIELDS), list(row[: len(_TOKEN_FIELDS)]))
    user = get_user_model().from_db(connection.alias, user_fields, list(row[len(_TOKEN_FIELDS) :]))
    token.user = user
    return token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="token_invalid")
        token = _token_with_user(hash_token(parts[1]))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.", code="token_invalid")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token was revoked.", code="token_revoked")
        if token.expires_at is not None and token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed("This token has expired.", code="token_expired")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's account is inactive.", code="account_inactive")
        resolution = timedelta(seconds=settings.MODELGOV["TOKEN_LAST_USED_RESOLUTION_SECONDS"])
        api_token_touch(token=token, resolution=resolution)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
