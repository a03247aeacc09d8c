"""Writes of the governance app: API tokens. ``audit_record`` lives in governance.audit.services
and is re-exported here, where every service has always called it."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from governance.audit.services import audit_record
from governance.choices import AuditEvent
from governance.models import ApiToken

TOKEN_PREFIX = "mg_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast unsalted hash is enough to make a leaked
    # table useless and keeps the per-request lookup to one indexed equality.
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token; ``secret`` exists only here and is never stored."""

    token: ApiToken
    secret: str


def api_token_create(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    user: Any,
    name: str,
    expires_at: datetime | None,
    secret: str | None = None,
) -> IssuedToken:
    """Create an API token for ``user``. ``secret`` may be given only by the demo seeder."""
    raw = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=raw[:10], key_hash=hash_token(raw), expires_at=expires_at
        )
        audit_record(
            actor=actor,
            event_type=AuditEvent.API_TOKEN_CREATED,
            subject=token,
            after={
                "user": user.get_username(),
                "name": name,
                "prefix": token.prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return IssuedToken(token=token, secret=raw)


def api_token_revoke(*, actor: AbstractBaseUser | AnonymousUser | None, token: ApiToken) -> ApiToken:
    """Revoke a token; revoking a revoked token changes nothing and writes nothing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            event_type=AuditEvent.API_TOKEN_REVOKED,
            subject=token,
            after={"user": token.user.get_username(), "prefix": token.prefix},
        )
    return token


def api_token_touch(*, token: ApiToken, resolution: timedelta) -> None:
    """Record use of a token, at most once per ``resolution`` (not an audited change)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= resolution:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


__all__ = ["IssuedToken", "api_token_create", "api_token_revoke", "api_token_touch", "audit_record", "hash_token"]
