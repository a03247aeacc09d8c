"""An audit entry written outside a transaction is a programming error (needs real autocommit, so
these tests use transactional_db)."""

import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.choices import AuditEvent
from governance.errors import AuditOutsideTransaction
from governance.models import AuditEntry
from governance.services import audit_record

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_audit_record_outside_a_transaction_raises_and_writes_nothing():
    subject = Group.objects.create(name="subject-team")
    assert not connection.in_atomic_block

    with pytest.raises(AuditOutsideTransaction) as raised:
        audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)

    assert raised.value.code == "audit_outside_transaction"
    assert raised.value.status == 500
    assert AuditEntry.objects.count() == 0


def test_audit_record_inside_a_transaction_commits_with_it():
    subject = Group.objects.create(name="subject-team")

    with transaction.atomic():
        entry = audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)

    assert list(AuditEntry.objects.values_list("id", "subject_type", "subject_id")) == [
        (entry.id, "auth.Group", str(subject.pk))
    ]


def _decision(world_version, actor, decision_id=None):
    from governance.models import GateDecision

    return GateDecision(
        id=decision_id or uuid.uuid4(),
        model_version=world_version,
        target_stage="staging",
        requested_digest="sha256:" + "a" * 64,
        decision="deny",
        checks=[{"name": "digest_matches", "outcome": "fail"}],
        pipeline={},
        envelope={"payload": "e30="},
        envelope_sha256="0" * 64,
        created_by=actor,
        created_at=timezone.now(),
    )


def test_an_insert_with_its_entry_needs_no_transaction_and_is_one(world):
    """insert_subject: the row and its entry in one statement, committed together in autocommit."""
    from governance.models import AuditPending, GateDecision

    row = _decision(world.version_b1, world.ci_b)
    assert not connection.in_atomic_block
    entries_before = AuditEntry.objects.count()

    entry = audit_record(
        actor=world.ci_b,
        event_type=AuditEvent.GATE_DECIDED,
        subject=row,
        model_name="model-b",
        after={"decision": "deny"},
        insert_subject=True,
    )

    assert GateDecision.objects.filter(pk=row.pk).count() == 1
    assert row._state.adding is False
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.event_type, stored.subject_type, stored.subject_id, stored.after) == (
        "GATE_DECIDED",
        "governance.GateDecision",
        str(row.pk),
        {"decision": "deny"},
    )
    assert AuditEntry.objects.count() == entries_before + 1
    # The entry was integrated right after its commit (no transaction was open to wait for).
    assert not AuditPending.objects.filter(entry_id=entry.pk).exists()


def test_an_insert_that_fails_writes_no_entry(world):
    """The row and the entry are one statement: a row that cannot be stored leaves no entry either."""
    from django.db import IntegrityError

    from governance.models import AuditPending, GateDecision

    first = _decision(world.version_b1, world.ci_b)
    audit_record(actor=world.ci_b, event_type=AuditEvent.GATE_DECIDED, subject=first, insert_subject=True)
    entries_before, pending_before = AuditEntry.objects.count(), AuditPending.objects.count()
    duplicate = _decision(world.version_b1, world.ci_b, decision_id=first.pk)

    with pytest.raises(IntegrityError):
        audit_record(actor=world.ci_b, event_type=AuditEvent.GATE_DECIDED, subject=duplicate, insert_subject=True)

    assert AuditEntry.objects.count() == entries_before
    assert AuditPending.objects.count() == pending_before
    assert GateDecision.objects.count() == 1


def test_an_insert_needs_its_primary_key(world):
    group = Group(name="no-pk-yet")

    with pytest.raises(ValueError, match="primary key"):
        audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=group, insert_subject=True)

    assert AuditEntry.objects.filter(subject_type="auth.Group").count() == 0
    assert not Group.objects.filter(name="no-pk-yet").exists()


def test_a_standalone_entry_is_one_statement_outside_a_transaction(world):
    """standalone: an entry that records no change of its own commits on its own, queue row included."""
    from governance.models import AuditLeaf, AuditPending

    subject = Group.objects.create(name="exported-team")
    assert not connection.in_atomic_block

    entry = audit_record(
        actor=world.officer,
        event_type=AuditEvent.AUDIT_LOG_EXPORTED,
        subject=subject,
        after={"from": 0},
        standalone=True,
    )

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.event_type, stored.subject_id, stored.actor_id, stored.after) == (
        "AUDIT_LOG_EXPORTED",
        str(subject.pk),
        world.officer.pk,
        {"from": 0},
    )
    assert AuditLeaf.objects.filter(entry_id=entry.pk).count() == 1  # integrated right after its commit
    assert not AuditPending.objects.filter(entry_id=entry.pk).exists()


def test_a_standalone_entry_inside_a_transaction_rolls_back_with_it(world):
    subject = Group.objects.create(name="refusing-team")
    before = AuditEntry.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, event_type=AuditEvent.AUDIT_LOG_VERIFIED, subject=subject, standalone=True)
        raise RuntimeError("the surrounding work failed")

    assert AuditEntry.objects.count() == before


def _transaction_status() -> int:
    return connection.connection.info.transaction_status


def _placed_decision(world, row=None, **fields):
    """A gate decision written as the gate writes it without a promotion: ``place=True``."""
    return audit_record(
        actor=world.ci_b,
        event_type=AuditEvent.GATE_DECIDED,
        subject=row if row is not None else _decision(world.version_b1, world.ci_b),
        insert_subject=True,
        place=True,
        **fields,
    )


def test_a_placed_write_commits_and_is_integrated_in_one_round_trip(world):
    """place: the decision, its entry, the commit and the entry's integration are one round trip, and
    the seq is known afterwards without asking the database."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    from governance.audit.services import audit_seq_known
    from governance.models import AuditLeaf, AuditPending, GateDecision

    # The first write of the session prepares its statements; the second is the one measured.
    _placed_decision(world)
    row = _decision(world.version_b1, world.ci_b)
    with CaptureQueriesContext(connection) as written:
        entry = _placed_decision(world, row, model_name="model-b", after={"decision": "deny"})
    with CaptureQueriesContext(connection) as asked:
        seq = audit_seq_known(entry_id=entry.pk)

    assert len(written.captured_queries) == 1
    script = written.captured_queries[0]["sql"]
    assert script.startswith("BEGIN; EXECUTE mg_")
    assert "; COMMIT; EXECUTE mg_" in script
    # The integration commits durably (asynchronous = false): the gate hands its seq out.
    integrate = script.split("; COMMIT; EXECUTE ")[1].split(" ")[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [integrate])
        assert "FROM mg_audit_integrate($1, $2, true, false, $3)" in cursor.fetchone()[0]
    assert len(asked.captured_queries) == 0
    assert _transaction_status() == TRANSACTION_STATUS_IDLE
    leaf = AuditLeaf.objects.get(entry_id=entry.pk)
    assert (leaf.seq, bytes(leaf.leaf_hash)) == (seq, bytes(entry.leaf_hash))
    assert seq == AuditLeaf.objects.count() - 1  # the newest leaf
    assert not AuditPending.objects.exists()
    assert GateDecision.objects.filter(pk=row.pk).count() == 1
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.subject_id, stored.after, bytes(stored.entry_bytes)) == (
        str(row.pk),
        {"decision": "deny"},
        bytes(entry.entry_bytes),
    )


def test_a_placed_write_that_fails_writes_nothing_and_leaves_no_transaction_open(world):
    from django.db import IntegrityError
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    from governance.models import AuditLeaf, AuditPending, GateDecision

    first = _decision(world.version_b1, world.ci_b)
    _placed_decision(world, first)
    entries_before, leaves_before = AuditEntry.objects.count(), AuditLeaf.objects.count()

    with pytest.raises(IntegrityError):
        _placed_decision(world, _decision(world.version_b1, world.ci_b, decision_id=first.pk))

    assert _transaction_status() == TRANSACTION_STATUS_IDLE  # rolled back, not left aborted
    assert (AuditEntry.objects.count(), AuditLeaf.objects.count()) == (entries_before, leaves_before)
    assert AuditPending.objects.count() == 0
    assert GateDecision.objects.count() == 1


def test_a_placed_write_whose_integration_fails_keeps_its_entry_in_the_queue(world, caplog):
    """The integration runs after the write's commit: when it fails (here the tree's right edge lost a
    node), the entry stands, waits in the queue, and the failure is logged, not raised."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    from governance.audit.services import audit_log_integrate, audit_seq_known
    from governance.models import AuditLeaf, AuditPending, GateDecision
    from tests.factories import append_only_disabled, audit_entries

    subject = Group.objects.create(name="placed-team")
    audit_entries(6 - AuditLeaf.objects.count(), subject=subject)
    assert audit_log_integrate() == 6  # the right edge: node 2/0 and node 1/2
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute('DELETE FROM governance_audittreenode WHERE level = 1 AND "index" = 2')
    audit_entries(1, subject=subject)  # leaf 6 completes nothing
    assert AuditLeaf.objects.count() == 7
    row = _decision(world.version_b1, world.ci_b)

    # Leaf 7 completes node 1/3, which merges with the missing node 1/2.
    entry = _placed_decision(world, row)

    assert _transaction_status() == TRANSACTION_STATUS_IDLE
    assert GateDecision.objects.filter(pk=row.pk).count() == 1
    assert AuditEntry.objects.filter(pk=entry.pk, subject_id=str(row.pk)).count() == 1
    assert list(AuditPending.objects.values_list("entry_id", flat=True)) == [entry.pk]
    assert AuditLeaf.objects.count() == 7
    assert audit_seq_known(entry_id=entry.pk) is None
    failures = [record for record in caplog.records if record.levelname == "ERROR"]
    assert [record.getMessage() for record in failures] == [
        "the integration after an audited write failed; its entry waits in the queue"
    ]
    assert "no stored hash at level 1, index 2" in failures[0].exc_text


def test_placed_writes_sign_the_checkpoints_that_fall_due(world, settings):
    from governance.audit.services import audit_checkpoint_create
    from governance.models import AuditCheckpoint, AuditLeaf

    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": 3}
    before = audit_checkpoint_create().size
    assert before == AuditLeaf.objects.count()
    for number in range(3):
        assert AuditCheckpoint.objects.order_by("-id").first().size == before  # not due yet
        _placed_decision(world)
        assert AuditLeaf.objects.count() == before + number + 1

    latest = AuditCheckpoint.objects.order_by("-id").first()
    assert latest.size == AuditLeaf.objects.count() == before + 3


def test_place_inside_a_transaction_integrates_after_its_commit(world):
    from governance.audit.services import audit_seq_known
    from governance.models import AuditLeaf

    with transaction.atomic():
        entry = _placed_decision(world)
        assert not AuditLeaf.objects.filter(entry_id=entry.pk).exists()

    assert audit_seq_known(entry_id=entry.pk) == AuditLeaf.objects.get(entry_id=entry.pk).seq


def _flushes(captured) -> int:
    return sum(query["sql"] == "SELECT pg_current_xact_id()" for query in captured.captured_queries)


def test_a_seq_from_the_own_durable_placement_is_handed_out_without_a_flush(world):
    from governance.audit.services import audit_seq_durable
    from governance.models import AuditLeaf

    entry = _placed_decision(world)
    with CaptureQueriesContext(connection) as asked:
        seq = audit_seq_durable(entry_id=entry.pk)

    assert seq == AuditLeaf.objects.get(entry_id=entry.pk).seq
    assert asked.captured_queries == []


def test_a_seq_placed_asynchronously_is_flushed_before_it_is_handed_out(world):
    """An entry placed by an after-commit integration (committed without waiting for the disk): its seq
    is handed out only after a transaction of its own commits durably, which flushes the earlier one."""
    from governance.audit.services import audit_seq_durable
    from governance.models import AuditLeaf

    subject = Group.objects.create(name="flushed-team")
    with transaction.atomic():
        entry = audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)
    placed = AuditLeaf.objects.get(entry_id=entry.pk).seq  # integrated after commit, asynchronously

    with CaptureQueriesContext(connection) as asked:
        seq = audit_seq_durable(entry_id=entry.pk)

    assert seq == placed
    assert _flushes(asked) == 1


def test_an_entry_that_cannot_be_placed_gets_no_seq_and_stays_queued(world, caplog):
    """The fallback integration fails (the tree lost a node): no seq is handed out, the failure is
    logged, and the entry and what it records stay committed."""
    from governance.audit.services import audit_log_integrate, audit_seq_durable
    from governance.models import AuditLeaf, AuditPending
    from tests.factories import append_only_disabled, audit_entries

    subject = Group.objects.create(name="unplaced-team")
    audit_entries(6 - AuditLeaf.objects.count(), subject=subject)
    assert audit_log_integrate() == 6
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute('DELETE FROM governance_audittreenode WHERE level = 1 AND "index" = 2')
    audit_entries(1, subject=subject)
    entry = _placed_decision(world)  # its own placement fails too, and is logged
    caplog.clear()

    assert audit_seq_durable(entry_id=entry.pk) is None

    assert list(AuditPending.objects.values_list("entry_id", flat=True)) == [entry.pk]
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == [
        f"placing audit entry {entry.pk} failed; it waits in the queue"
    ]


def test_a_promotions_seq_is_on_disk_before_the_gate_answers(world):
    from governance.models import AuditLeaf
    from tests.factories import approve_promotion
    from tests.governance.gate.support import promote

    approve_promotion(version=world.version_b1, stage="production", requester=world.ci_b, approvers=[world.validator])

    with CaptureQueriesContext(connection) as asked:
        decision, seq = promote(world)

    assert (decision.decision, decision.promoted) == ("allow", True)
    assert seq == AuditLeaf.objects.get(entry__subject_id=str(decision.pk)).seq
    assert _flushes(asked) == 1
    assert asked.captured_queries[-1]["sql"] == "SELECT pg_current_xact_id()"
