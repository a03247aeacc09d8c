"""``manage.py grant_app_role [--role modelgov_app]``: the service's database role may read and
write the application tables, but only SELECT and INSERT the audit tables. Run it as the schema
owner after every ``migrate``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from psycopg2 import sql

# Append-only: SELECT and INSERT, nothing else (the triggers refuse the rest even to the owner).
AUDIT_TABLES = (
    "registry_lineageevent",
    "registry_lineagesnapshot",
    "governance_auditentry",
    "governance_auditleaf",
    "governance_audittreenode",
    "governance_auditcheckpoint",
)
# The integrator's queue: writers add to it; only the integrator dequeues (deletes), with its owner's
# rights (SECURITY DEFINER, migration governance 0013), so the app role cannot take an entry off it.
QUEUE_TABLES = ("governance_auditpending",)
# The integrator on PostgreSQL (migrations governance 0009, 0012, 0013).
FUNCTIONS = ("mg_audit_integrate(bigint, integer, boolean, boolean, integer)",)


class Command(BaseCommand):
    help = "Grant the service's database role its privileges (SELECT/INSERT only on the audit tables)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default="modelgov_app")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("roles exist only on PostgreSQL")
        role = sql.Identifier(options["role"])
        tables = connection.introspection.table_names()
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role).as_string(cursor.cursor))
            for table in tables:
                name = sql.Identifier(table)
                cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(name, role).as_string(cursor.cursor))
                if table in AUDIT_TABLES or table in QUEUE_TABLES:
                    privileges = "SELECT, INSERT"
                else:
                    privileges = "SELECT, INSERT, UPDATE, DELETE"
                statement = sql.SQL("GRANT " + privileges + " ON {} TO {}").format(name, role)
                cursor.execute(statement.as_string(cursor.cursor))
            cursor.execute(
                sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}")
                .format(role)
                .as_string(cursor.cursor)
            )
            for function in FUNCTIONS:  # a fixed signature of ours; the role is quoted
                statement = sql.SQL("GRANT EXECUTE ON FUNCTION " + function + " TO {}").format(role)
                cursor.execute(statement.as_string(cursor.cursor))
        self.stdout.write(f"granted {options['role']}: SELECT, INSERT on {', '.join([*AUDIT_TABLES, *QUEUE_TABLES])}")
