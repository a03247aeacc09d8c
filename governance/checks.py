"""System checks of the database the service runs on (``manage.py check --database default``; ``migrate``
runs them too)."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db import connections

AUTOVACUUM_OFF = "modelgov.W001"


def autovacuum_messages(setting: str | None) -> list[checks.CheckMessage]:
    """The warning for PostgreSQL's ``autovacuum`` setting, as ``SHOW autovacuum`` prints it."""
    if setting is None or setting.lower() not in ("off", "false", "0"):
        return []
    return [
        checks.Warning(
            "PostgreSQL's autovacuum is off.",
            hint=(
                "The audit integrator's queue (governance_auditpending) takes one row per audit entry and "
                "deletes it again; without vacuum its dead rows stay, and every integration reads past more of "
                "them. Turn autovacuum on (PostgreSQL's default), or VACUUM that table on a schedule."
            ),
            id=AUTOVACUUM_OFF,
        )
    ]


@checks.register(checks.Tags.database)
def autovacuum_check(
    *, app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **_kwargs: Any
) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            (setting,) = cursor.fetchone()
        messages += autovacuum_messages(setting)
    return messages
