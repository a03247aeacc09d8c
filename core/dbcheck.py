"""``python -m core.dbcheck``: one clear line and exit 1 when the test PostgreSQL is not reachable."""

import sys

import dj_database_url
import psycopg2

from config.settings.base import env

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/modelgov_test"


def main() -> int:
    url = env("DATABASE_URL", DEFAULT_TEST_DATABASE_URL) or DEFAULT_TEST_DATABASE_URL
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        print(f"make test needs PostgreSQL; DATABASE_URL names {config['ENGINE']}", file=sys.stderr)
        return 1
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    try:
        psycopg2.connect(
            dbname="postgres",
            user=config.get("USER") or "postgres",
            password=config.get("PASSWORD") or None,
            host=host,
            port=port,
            connect_timeout=3,
        ).close()
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"PostgreSQL is not reachable at {host}:{port} ({reason}); start it or set DATABASE_URL.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
