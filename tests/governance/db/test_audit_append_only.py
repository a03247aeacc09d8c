"""The audit table is append-only in PostgreSQL itself: triggers refuse UPDATE, DELETE and TRUNCATE
from any client, raw SQL included, and no session setting switches them off.

Each refused statement runs in ``transaction.atomic()`` so that its savepoint is rolled back and the
test's connection stays usable for the assertions that follow.
"""

import pytest
from django.db import ProgrammingError, connection, transaction

from governance.models import AuditEntry
from tests.helpers import refused_by_database


def rows():
    return list(AuditEntry.objects.order_by("id").values())


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE governance_auditentry SET actor_name = 'mallory' WHERE id = %s",
        "UPDATE governance_auditentry SET after = '{}'::jsonb WHERE id = %s",
        "UPDATE governance_auditentry SET leaf_hash = '\\x00'::bytea, entry_bytes = '\\x00'::bytea WHERE id = %s",
        "UPDATE governance_auditentry SET created_at = now() WHERE id >= %s",
    ],
)
def test_raw_update_is_refused_by_database(world, sql):
    entry_id = AuditEntry.objects.order_by("id").first().id
    before = rows()

    message = refused_by_database(sql, [entry_id])

    assert message.startswith("modelgov: UPDATE on governance_auditentry is not allowed: the table is append-only")
    assert rows() == before


@pytest.mark.parametrize(
    "sql", ["DELETE FROM governance_auditentry WHERE id = %s", "DELETE FROM governance_auditentry WHERE id >= %s"]
)
def test_raw_delete_is_refused_by_database(world, sql):
    before = rows()

    message = refused_by_database(sql, [before[0]["id"]])

    assert message.startswith("modelgov: DELETE on governance_auditentry is not allowed")
    assert rows() == before


# Rows written inside the test's transaction leave deferred foreign-key checks pending, and PostgreSQL
# refuses to truncate a table with pending trigger events; firing them first shows what a session with
# committed rows gets.
FIRE_PENDING_CHECKS = "SET CONSTRAINTS ALL IMMEDIATE"


@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE governance_auditentry",
        "TRUNCATE governance_auditentry CASCADE",
        "TRUNCATE governance_auditentry RESTART IDENTITY CASCADE",
        "TRUNCATE governance_auditentry, governance_auditpending, governance_auditleaf",
    ],
)
def test_truncate_is_refused_by_database(world, sql):
    before = rows()

    message = refused_by_database(sql, setup=[FIRE_PENDING_CHECKS])

    assert message.startswith("modelgov: TRUNCATE on governance_auditentry is not allowed")
    assert rows() == before


def test_orm_update_and_delete_are_refused_by_database(world):
    entry = AuditEntry.objects.order_by("id").first()
    before = rows()

    with pytest.raises(ProgrammingError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_name="mallory")
    with pytest.raises(ProgrammingError), transaction.atomic():
        entry.delete()
    entry.actor_name = "mallory"
    with pytest.raises(ProgrammingError), transaction.atomic():
        entry.save()

    assert rows() == before


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("UPDATE governance_auditentry SET actor_name = 'mallory' WHERE id >= %s", "UPDATE"),
        ("DELETE FROM governance_auditentry WHERE id >= %s", "DELETE"),
        ("TRUNCATE governance_auditentry CASCADE", "TRUNCATE"),
    ],
)
def test_replica_session_role_does_not_switch_the_triggers_off(world, sql, operation):
    before = rows()
    params = None if operation == "TRUNCATE" else [before[0]["id"]]

    setup = [FIRE_PENDING_CHECKS, "SET LOCAL session_replication_role = replica"]
    message = refused_by_database(sql, params, setup=setup)

    assert message.startswith(f"modelgov: {operation} on governance_auditentry is not allowed")
    assert rows() == before
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone() == ("origin",)


@pytest.mark.parametrize(
    "table", ["governance_auditentry", "governance_auditleaf", "governance_audittreenode", "governance_auditcheckpoint"]
)
def test_triggers_are_enabled_always(db, table):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relname = %s AND NOT t.tgisinternal ORDER BY t.tgname
            """,
            [table],
        )
        triggers = cursor.fetchall()

    assert triggers == [(f"{table}_append_only_row", "A"), (f"{table}_append_only_truncate", "A")]


def test_insert_is_allowed(world):
    count = AuditEntry.objects.count()

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO governance_auditentry (created_at, actor_name, event_type, subject_type, subject_id,
                subject_repr, model_name, request_id, entry_bytes, leaf_hash)
            VALUES (now(), 'system', 'REGISTERED_MODEL_UPDATED', 't', '1', 'r', '', '',
                '\\x7b7d'::bytea, '\\x00'::bytea)
            """
        )

    assert AuditEntry.objects.count() == count + 1
