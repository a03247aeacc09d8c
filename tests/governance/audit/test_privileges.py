"""The service's database role (modelgov_app) may read and append to the audit tables and nothing
else: it cannot change, delete or truncate rows, nor switch the append-only triggers off, nor drop or
replace them. Grants must be committed to be seen from another connection, hence transactional_db."""

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from core import dbroles
from governance.audit.services import INTEGRATOR_LOCK, audit_checkpoint_create, audit_log_integrate
from governance.audit.verification import verify_database_log
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending, AuditTreeNode
from tests.factories import GroupFactory, audit_entries

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

APP_ROLE = "modelgov_app"
AUDIT_TABLES = {
    # table: a column to "change" in an UPDATE
    "governance_auditentry": "actor_name",
    "governance_auditleaf": "leaf_hash",
    "governance_audittreenode": "hash",
    "governance_auditcheckpoint": "note",
}


@pytest.fixture(scope="session")
def app_role() -> str:
    """The roles exist (make test runs ``python -m core.dbroles``; it is idempotent)."""
    assert dbroles.main() == 0
    return APP_ROLE


@pytest.fixture
def granted(app_role: str) -> str:
    out = io.StringIO()
    call_command("grant_app_role", role=app_role, stdout=out)
    assert out.getvalue().startswith(f"granted {app_role}: SELECT, INSERT on ")
    return app_role


@pytest.fixture
def logged() -> None:
    """A committed log: 6 entries (integrated after each commit) and a checkpoint."""
    audit_entries(6, subject=GroupFactory(name="audited-subject"))
    assert audit_checkpoint_create().size == 6


@pytest.fixture
def as_app(granted: str) -> Iterator[Any]:
    """A plain psycopg2 connection to the test database as the service's role."""
    database = settings.DATABASES["default"]
    app = psycopg2.connect(
        dbname=database["NAME"],
        user=granted,
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
    )
    app.autocommit = True
    yield app
    app.close()


def snapshot() -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        rows = {}
        for table in [*AUDIT_TABLES, "governance_auditpending"]:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2')
            rows[table] = [
                tuple(bytes(value) if isinstance(value, memoryview) else value for value in row)
                for row in cursor.fetchall()
            ]
        return rows


def forbidden_statements() -> list[str]:
    statements = []
    for table, column in AUDIT_TABLES.items():
        statements += [
            f'UPDATE "{table}" SET "{column}" = "{column}"',
            f'DELETE FROM "{table}"',
            f'TRUNCATE "{table}"',
            f'TRUNCATE "{table}" CASCADE',
            f'ALTER TABLE "{table}" DISABLE TRIGGER ALL',
            f'ALTER TABLE "{table}" DISABLE TRIGGER "{table}_append_only_row"',
            f'ALTER TABLE "{table}" ENABLE REPLICA TRIGGER "{table}_append_only_row"',
            f'DROP TRIGGER "{table}_append_only_row" ON "{table}"',
            f'DROP TRIGGER "{table}_append_only_truncate" ON "{table}"',
            f'ALTER TABLE "{table}" OWNER TO {APP_ROLE}',
            f'DROP TABLE "{table}" CASCADE',
        ]
    return [
        *statements,
        "UPDATE governance_auditpending SET leaf_hash = leaf_hash",
        "DELETE FROM governance_auditpending",
        "TRUNCATE governance_auditpending",
        "SET session_replication_role = replica",
        "SELECT set_config('session_replication_role', 'replica', false)",
        "SET ROLE modelgov_owner",
        "CREATE OR REPLACE FUNCTION modelgov_reject_change() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NEW; END $$",
        "DROP FUNCTION modelgov_reject_change() CASCADE",
    ]


def test_app_role_cannot_change_delete_truncate_or_unguard_the_audit_tables(logged, as_app):
    before = snapshot()
    allowed = []
    with as_app.cursor() as cursor:
        cursor.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
        assert cursor.fetchone() == (APP_ROLE, False)
        for statement in forbidden_statements():
            try:
                cursor.execute(statement)
            except psycopg2.errors.InsufficientPrivilege:
                continue
            allowed.append(statement)
    assert allowed == []
    assert snapshot() == before
    assert verify_database_log().size == 6


def test_app_role_reads_and_appends(logged, as_app):
    with as_app.cursor() as cursor:
        counts = {}
        for table in [*AUDIT_TABLES, "governance_auditpending"]:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
        assert counts == {
            "governance_auditentry": 6,
            "governance_auditleaf": 6,
            "governance_audittreenode": 6 - 2,
            "governance_auditcheckpoint": 1,
            "governance_auditpending": 0,
        }
        # What audit_record does, by hand: the entry and its place in the integrator's queue.
        # The bytes must say what the columns say: the verifier compares them.
        document = {
            "v": 1,
            "time": "2026-01-01T00:00:00Z",
            "actor": {"id": None, "name": "system"},
            "event": "TEST_EVENT",
            "subject": {"type": "auth.Group", "id": "1", "repr": "x"},
            "model": "",
            "before": None,
            "after": None,
            "request_id": "",
        }
        entry_bytes = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
        cursor.execute(
            "INSERT INTO governance_auditentry (created_at, actor_id, actor_name, event_type, subject_type, "
            "subject_id, subject_repr, model_name, before, after, request_id, entry_bytes, leaf_hash) "
            "VALUES ('2026-01-01T00:00:00Z', NULL, 'system', 'TEST_EVENT', 'auth.Group', '1', 'x', '', NULL, NULL, '', "
            "%s, %s) "
            "RETURNING id",
            [entry_bytes, leaf],
        )
        entry_id = cursor.fetchone()[0]
        cursor.execute("INSERT INTO governance_auditpending (entry_id, leaf_hash) VALUES (%s, %s)", [entry_id, leaf])
    assert audit_log_integrate() == 7
    assert AuditLeaf.objects.get(entry_id=entry_id).seq == 6
    assert verify_database_log().size == 7


def test_the_service_runs_as_the_app_role(granted, logged):
    """Record, integrate after commit and sign a checkpoint through Django connected as modelgov_app;
    its attempts to rewrite the log fail there too."""
    subject = GroupFactory(name="another-subject")
    default = connections["default"]
    owner = default.settings_dict["USER"]
    default.close()
    default.settings_dict["USER"] = APP_ROLE
    try:
        with default.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone() == (APP_ROLE,)
        audit_entries(3, subject=subject)
        assert AuditPending.objects.count() == 0
        checkpoint = audit_checkpoint_create()
        assert (checkpoint.size, AuditLeaf.objects.count(), AuditTreeNode.objects.count()) == (9, 9, 9 - 2)
        for attempt in (
            lambda: AuditEntry.objects.filter(pk=AuditEntry.objects.first().pk).update(actor_name="x"),
            lambda: AuditCheckpoint.objects.all().delete(),
        ):
            with pytest.raises(DatabaseError) as refused, transaction.atomic():
                attempt()
            assert refused.value.__cause__.pgcode == "42501"
    finally:
        default.close()
        default.settings_dict["USER"] = owner
    report = verify_database_log()
    assert (report.size, report.checkpoints, report.pending) == (9, 2, 0)


def test_only_roles_granted_execute_may_run_the_integrator_function(app_role, logged):
    """mg_audit_integrate runs with its owner's rights (migration 0013), so PUBLIC may not run it;
    grant_app_role grants EXECUTE to the app role, which then integrates."""
    function = "mg_audit_integrate(bigint, integer, boolean, boolean, integer)"

    def may_execute(role: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", [role, function])
            return bool(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS mg_stranger")
        cursor.execute("CREATE ROLE mg_stranger")  # any other role of the cluster, granted nothing
        cursor.execute(f'REVOKE EXECUTE ON FUNCTION {function} FROM "{app_role}"')
    try:
        assert may_execute("mg_stranger") is False
        assert may_execute(app_role) is False
        call_command("grant_app_role", role=app_role, stdout=io.StringIO())
        assert may_execute(app_role) is True
        database = settings.DATABASES["default"]
        app = psycopg2.connect(
            dbname=database["NAME"], user=app_role, host=database["HOST"] or "127.0.0.1", port=database["PORT"] or 5432
        )
        try:
            app.autocommit = True
            with app.cursor() as cursor:
                cursor.execute(
                    "SELECT tree_size, added FROM mg_audit_integrate(%s, 5000, true, false, 0)", [INTEGRATOR_LOCK]
                )
                assert cursor.fetchone() == (6, 0)  # the six logged entries, nothing queued
        finally:
            app.close()
    finally:
        call_command("grant_app_role", role=app_role, stdout=io.StringIO())
        with connection.cursor() as cursor:
            cursor.execute("DROP ROLE IF EXISTS mg_stranger")
