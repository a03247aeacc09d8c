"""An audit entry written outside a transaction is a programming error (needs real autocommit, so
these tests use transactional_db)."""

import uuid

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
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
