"""Server-side prepared statements on PostgreSQL, for the few statements on hot paths whose planning
costs as much as their execution (joins with permission subqueries, arrays of thousands of ids).

A statement is written once with ``%s`` placeholders, like any other; ``execute`` prepares it on the
first use in each database session (a new session is noticed through Django's ``connection_created``
signal, and what a session already holds is read from ``pg_prepared_statements``) and runs
``EXECUTE``. Prepared statements are not transactional: a rollback keeps them. Behind a pooler in
transaction mode (PgBouncer) sessions are shared and this must not be used."""

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from django.db import connection
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

_PLACEHOLDER = re.compile(r"%s")


@functools.cache
def statement_name(sql: str) -> str:
    # The name follows the text, so two versions of a statement (a deploy) never share a name; the few
    # fixed texts are hashed once per process, not on every execution of a hot statement.
    return "mg_" + hashlib.sha256(sql.encode("utf-8")).hexdigest()[:24]


def forget_session(*, connection: Any, **_kwargs: Any) -> None:
    """connection_created: a new database session holds none of our statements."""
    connection.mg_prepared = None


def execute(cursor: Any, sql: str, params: list[Any]) -> None:
    """Run ``sql`` (``%s`` placeholders) with ``params`` as a prepared statement on PostgreSQL."""
    cursor.execute(_execute_sql(_prepare(cursor, sql, len(params)), len(params)), params or None)


def execute_script(cursor: Any, parts: Sequence[str | tuple[str, list[Any]]]) -> None:
    """Several statements in one round trip: each part is a statement without parameters (``BEGIN``,
    ``COMMIT``) or a ``(sql, params)`` pair, run as a prepared statement as :func:`execute` runs it.

    PostgreSQL runs the parts in order and stops at the first error; the cursor holds the result of
    the last one. Without an explicit ``BEGIN`` and ``COMMIT`` the parts share one transaction; a
    ``BEGIN`` ... ``COMMIT`` pair commits what it encloses before the next part runs, and the parts
    after it run in a transaction of their own. An error between ``BEGIN`` and ``COMMIT`` leaves that
    transaction open and aborted: the caller rolls it back (:func:`end_open_transaction`)."""
    statements: list[str] = []
    values: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            statements.append(part)
            continue
        sql, params = part
        statements.append(_execute_sql(_prepare(cursor, sql, len(params)), len(params)))
        values.extend(params)
    cursor.execute("; ".join(statements), values or None)


def end_open_transaction(cursor: Any) -> None:
    """Roll back a transaction that a failed :func:`execute_script` left open (the session is in
    autocommit, so nothing else would end it); nothing when none is open."""
    raw = getattr(cursor, "db", connection).connection
    if raw is not None and not raw.closed and raw.info.transaction_status != TRANSACTION_STATUS_IDLE:
        cursor.execute("ROLLBACK")


def _prepare(cursor: Any, sql: str, count: int) -> str:
    """The statement's name, after preparing it in this session if it is not prepared yet."""
    name = statement_name(sql)
    db: Any = getattr(cursor, "db", connection)  # the connection itself: no lookup through the proxy
    prepared: set[str] | None = getattr(db, "mg_prepared", None)
    if prepared is None:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'mg\\_%%'")
        prepared = {row[0] for row in cursor.fetchall()}
        db.mg_prepared = prepared
    if name not in prepared:
        numbers = iter(range(1, count + 1))
        body = _PLACEHOLDER.sub(lambda _match: f"${next(numbers)}", sql)
        cursor.execute(f"PREPARE {name} AS {body}")
        prepared.add(name)
    return name


@functools.cache
def _execute_sql(name: str, count: int) -> str:
    return f"EXECUTE {name} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
