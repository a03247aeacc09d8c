"""An audit entry written outside a transaction is a programming error (needs real autocommit, so
these tests use transactional_db)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction

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
