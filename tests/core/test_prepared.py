"""core.prepared: a statement is prepared once per database session and survives what a session does."""

import pytest
from django.db import connection, transaction

from core import prepared

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::int + %s::int"


def run(a: int, b: int) -> int:
    with connection.cursor() as cursor:
        prepared.execute(cursor, SQL, [a, b])
        return cursor.fetchone()[0]


def held() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_prepared_once_then_executed():
    assert run(2, 3) == 5
    assert prepared.statement_name(SQL) in held()
    assert run(40, 2) == 42


def test_a_session_that_already_holds_the_statement_is_read_not_prepared_twice():
    run(1, 1)
    connection.mg_prepared = None  # as after connection_created on a pooled, reused session
    assert run(5, 6) == 11


def test_a_session_that_lost_its_statements_prepares_again():
    run(1, 1)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    prepared.forget_session(connection=connection)
    assert prepared.statement_name(SQL) not in held()
    assert run(7, 8) == 15


def test_a_rollback_keeps_the_statement():
    with pytest.raises(RuntimeError), transaction.atomic():
        run(1, 2)
        raise RuntimeError("roll back")
    assert prepared.statement_name(SQL) in held()
    assert run(3, 4) == 7
