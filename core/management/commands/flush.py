"""``flush`` for the test suite: Django's TransactionTestCase empties every table between tests with
TRUNCATE, which the append-only triggers refuse (as they must). Under the test settings, and only
as the table owner, the append-only triggers are switched off around the flush and switched back on
as ENABLE ALWAYS. Anywhere else this is Django's flush, and it fails on the audit tables."""

from typing import Any

from django.conf import settings
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

_TRIGGERS_SQL = """
SELECT c.relname, t.tgname
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.proname = 'modelgov_reject_change' AND NOT t.tgisinternal
"""


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        from registry.permissions import forget_permission_ids

        forget_permission_ids()  # the flush may recreate permissions under new ids (post_migrate may be inhibited)
        connection = connections[options["database"]]
        if not getattr(settings, "MODELGOV_TESTING", False) or connection.vendor != "postgresql":
            super().handle(**options)
            return
        with connection.cursor() as cursor:
            cursor.execute(_TRIGGERS_SQL)
            triggers = cursor.fetchall()
            for table, trigger in triggers:
                cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
        try:
            super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for table, trigger in triggers:
                    cursor.execute(f'ALTER TABLE "{table}" ENABLE ALWAYS TRIGGER "{trigger}"')
