"""``manage.py create_api_token --user NAME [--expires-days N] [--name LABEL]``: prints the token once."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from governance.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username of the (service) account")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=settings.MODELGOV["TOKEN_DEFAULT_EXPIRY_DAYS"],
            help="days until the token expires; 0 for a token that never expires",
        )
        parser.add_argument("--name", default="cli", help="a label to tell tokens apart")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["user"], is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no active user named {options['user']!r}") from None
        days = options["expires_days"]
        if days < 0:
            raise CommandError("--expires-days must be 0 or more")
        if days > 36500:
            raise CommandError("--expires-days must be at most 36500 (100 years); use 0 for a token that never expires")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        issued = api_token_create(actor=None, user=user, name=options["name"], expires_at=expires_at)
        self.stdout.write(issued.secret)
