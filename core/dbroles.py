"""``python -m core.dbroles``: create the two PostgreSQL roles modelgov runs with (idempotent).

``modelgov_owner`` owns the schema and runs migrations; ``modelgov_app`` is what the service connects
as, and ``manage.py grant_app_role`` gives it SELECT and INSERT only on the audit tables. Run as a
superuser against the server named by DATABASE_URL (make test does this for the test server).
"""

import sys

import dj_database_url
import psycopg2
from psycopg2 import sql

from config.settings.base import env
from core.dbcheck import DEFAULT_TEST_DATABASE_URL

ROLES = {"modelgov_owner": "LOGIN CREATEDB", "modelgov_app": "LOGIN"}


def main() -> int:
    config = dj_database_url.parse(env("DATABASE_URL", DEFAULT_TEST_DATABASE_URL) or DEFAULT_TEST_DATABASE_URL)
    connection = psycopg2.connect(
        dbname="postgres",
        user=config.get("USER") or "postgres",
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or "127.0.0.1",
        port=config.get("PORT") or 5432,
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        for role, options in ROLES.items():
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)))
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
