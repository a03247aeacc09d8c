"""Bearer-token authentication for machines (``Authorization: Bearer <token>``)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from governance.models import ApiToken
from governance.services import api_token_touch, hash_token


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
        try:
            token = ApiToken.objects.select_related("user").get(key_hash=hash_token(parts[1]))
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown token.", code="token_invalid") from None
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
