"""Signed checkpoints: C2SP signed notes, made on demand and every N entries, and never signed over
a tree that does not extend the previous checkpoint."""

import base64

import pytest
from django.conf import settings
from django.db import transaction

from governance.audit import tree
from governance.audit.services import audit_checkpoint_create, audit_log_integrate, audit_record
from governance.choices import AuditEvent
from governance.errors import CheckpointInconsistent
from governance.models import AuditCheckpoint, AuditLeaf, AuditTreeNode
from hooks import tlog
from tests.factories import append_only_disabled, audit_entries


def leaves() -> list[bytes]:
    return [bytes(leaf) for leaf in AuditLeaf.objects.order_by("seq").values_list("leaf_hash", flat=True)]


def test_checkpoint_is_a_signed_note_of_the_whole_log(subject, log_key):
    audit_entries(9, subject=subject)
    checkpoint = audit_checkpoint_create()
    origin, key_name = settings.MODELGOV["LOG_ORIGIN"], settings.MODELGOV["LOG_KEY_NAME"]
    opened = tlog.open_checkpoint(checkpoint.note, key_name, log_key, origin=origin)
    root = tlog.root_from_leaves(leaves())
    assert opened == tlog.Checkpoint(origin, 9, root)
    assert (checkpoint.size, bytes(checkpoint.root_hash)) == (9, root)
    body = f"{origin}\n9\n{base64.b64encode(root).decode()}\n"
    assert checkpoint.note.startswith(f"{body}\n\N{EM DASH} {key_name} ")
    assert checkpoint.note.count("\n") == 5
    # It integrated the pending entries first: the checkpoint covers everything committed.
    assert AuditLeaf.objects.count() == 9


def test_checkpoint_of_the_empty_log(db, log_key):
    checkpoint = audit_checkpoint_create()
    opened = tlog.open_checkpoint(
        checkpoint.note, settings.MODELGOV["LOG_KEY_NAME"], log_key, origin=settings.MODELGOV["LOG_ORIGIN"]
    )
    assert (opened.size, opened.root) == (0, tlog.EMPTY_ROOT)


def test_second_checkpoint_without_new_entries_is_the_same_checkpoint(subject):
    audit_entries(4, subject=subject)
    first = audit_checkpoint_create()
    again = audit_checkpoint_create()
    assert again.pk == first.pk
    assert AuditCheckpoint.objects.count() == 1


def test_new_entries_give_a_new_consistent_checkpoint(subject, log_key):
    audit_entries(4, subject=subject)
    first = audit_checkpoint_create()
    audit_entries(3, subject=subject)
    second = audit_checkpoint_create()
    assert list(AuditCheckpoint.objects.order_by("id").values_list("size", flat=True)) == [4, 7]
    proof = tree.consistency_proof(4, 7)
    tlog.verify_consistency(4, 7, bytes(first.root_hash), bytes(second.root_hash), proof)
    assert bytes(second.root_hash) == tlog.root_from_leaves(leaves())


def test_checkpoint_is_made_every_n_entries(subject, settings, django_capture_on_commit_callbacks):
    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": 5}

    def record(count: int) -> None:
        for _ in range(count):
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)

    record(4)
    assert (AuditLeaf.objects.count(), AuditCheckpoint.objects.count()) == (4, 0)
    record(1)
    assert list(AuditCheckpoint.objects.values_list("size", flat=True)) == [5]
    record(4)
    assert list(AuditCheckpoint.objects.values_list("size", flat=True)) == [5]
    record(1)
    assert list(AuditCheckpoint.objects.order_by("id").values_list("size", flat=True)) == [5, 10]
    assert bytes(AuditCheckpoint.objects.latest().root_hash) == tlog.root_from_leaves(leaves())


def test_a_batch_stops_where_a_checkpoint_falls_due_and_goes_on_after_it(subject, settings):
    """REGULATORY.md: a checkpoint at least every N entries, also when N+ entries wait at once."""
    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": 5}
    audit_entries(12, subject=subject)
    assert audit_log_integrate() == 12
    assert list(AuditCheckpoint.objects.order_by("id").values_list("size", flat=True)) == [5, 10]
    assert AuditLeaf.objects.count() == 12
    assert bytes(AuditCheckpoint.objects.latest().root_hash) == tlog.root_from_leaves(leaves()[:10])


def test_a_checkpoint_already_due_is_signed_before_more_is_integrated(subject, settings):
    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": 50}
    audit_entries(7, subject=subject)
    audit_log_integrate()  # 7 entries, no checkpoint due
    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": 5}  # now one is overdue
    audit_entries(4, subject=subject)

    assert audit_log_integrate() == 11

    assert list(AuditCheckpoint.objects.order_by("id").values_list("size", flat=True)) == [7]
    assert AuditLeaf.objects.count() == 11


@pytest.mark.parametrize(
    ("checkpoint_size", "node"),
    [
        (16, (4, 0)),  # the old tree's root itself
        (13, (2, 2)),  # a subtree of the old tree's right edge
        (13, (3, 0)),
    ],
)
def test_server_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(subject, checkpoint_size, node):
    audit_entries(checkpoint_size, subject=subject)
    previous = audit_checkpoint_create()
    assert previous.size == checkpoint_size
    level, index = node
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute(
            'UPDATE governance_audittreenode SET hash = %s WHERE level = %s AND "index" = %s',
            [b"\x07" * 32, level, index],
        )
        assert cursor.rowcount == 1
    audit_entries(4, subject=subject)
    assert audit_log_integrate() == checkpoint_size + 4
    with pytest.raises(CheckpointInconsistent) as refused:
        audit_checkpoint_create()
    assert refused.value.code == "checkpoint_inconsistent"
    assert refused.value.status == 500
    assert {key: refused.value.extra[key] for key in ("previous_size", "size")} == {
        "previous_size": checkpoint_size,
        "size": checkpoint_size + 4,
    }
    assert list(AuditCheckpoint.objects.values_list("pk", flat=True)) == [previous.pk]


def test_a_transaction_that_signs_a_checkpoint_commits_durably(subject):
    """Integrations commit asynchronously; the one that signs a checkpoint must not (a crash would
    otherwise take back seqs under a checkpoint already handed out). Internals: the setting is only
    visible inside the transaction."""
    from django.db import connection

    from governance.audit.services import _checkpoint_sign_locked, _take_lock

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    audit_entries(3, subject=subject)
    with transaction.atomic():
        assert _take_lock(True, asynchronous_commit=True)
        assert synchronous_commit() == "off"
        checkpoint = _checkpoint_sign_locked()
        assert synchronous_commit() == "on"

    assert AuditCheckpoint.objects.order_by("-id").first() == checkpoint


def test_server_refuses_to_sign_a_log_smaller_than_its_last_checkpoint(subject):
    audit_entries(6, subject=subject)
    previous = audit_checkpoint_create()
    tables = ("governance_auditleaf", "governance_audittreenode")
    with append_only_disabled(*tables) as cursor:
        cursor.execute("DELETE FROM governance_auditleaf WHERE seq >= 4")
        cursor.execute('DELETE FROM governance_audittreenode WHERE ("index" + 1) * (1 << level) > 4')
    with pytest.raises(CheckpointInconsistent) as refused:
        audit_checkpoint_create()
    assert refused.value.extra == {"previous_size": 6, "size": 4}
    assert list(AuditCheckpoint.objects.values_list("pk", flat=True)) == [previous.pk]


def test_a_stale_node_outside_the_proof_does_not_block_signing(subject):
    """Nodes wholly inside the old tree and off its right edge are not read: the new root is still right."""
    audit_entries(16, subject=subject)
    audit_checkpoint_create()
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute('UPDATE governance_audittreenode SET hash = %s WHERE level = 1 AND "index" = 0', [b"\x07" * 32])
    audit_entries(4, subject=subject)
    signed = audit_checkpoint_create()
    assert bytes(signed.root_hash) == tlog.root_from_leaves(leaves())
    assert AuditTreeNode.objects.count() == 20 - 2


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_either_database_s_integration_statements_build_the_same_tree(subject, monkeypatch, vendor):
    """On PostgreSQL the database integrates a batch itself (mg_audit_integrate, PL/pgSQL); on SQLite
    (the demo) Python computes the tree and plain statements store it, which are standard SQL and run
    here on PostgreSQL. Batches of 10 over 37 entries: several batches, the last one short."""
    from django.db import connection

    from governance.audit.verification import verify_database_log
    from governance.models import AuditEntry, AuditPending

    audit_entries(37, subject=subject)
    total = AuditEntry.objects.count()
    monkeypatch.setattr(connection, "vendor", vendor)  # a single thread: the lock is not needed here

    assert audit_log_integrate(batch_size=10) == total

    monkeypatch.undo()
    assert AuditPending.objects.count() == 0
    assert list(AuditLeaf.objects.order_by("seq").values_list("seq", flat=True)) == list(range(total))
    entry_bytes = AuditLeaf.objects.order_by("seq").values_list("entry__entry_bytes", flat=True)
    expected = tlog.root_from_leaves([tlog.leaf_hash(bytes(data)) for data in entry_bytes])
    assert tree.root_at(total) == expected
    assert AuditTreeNode.objects.count() == total - bin(total).count("1")  # every complete subtree, once
    assert verify_database_log().root == expected


def test_a_missing_right_edge_hash_stops_the_integration_and_loses_nothing(subject):
    """The database's integrator refuses to extend a tree whose right edge it needs and cannot read."""
    from governance.audit.tree import MissingNode
    from governance.models import AuditPending

    audit_entries(6, subject=subject)
    assert audit_log_integrate() == 6  # size 6: the right edge is node 2/0 and node 1/2
    with append_only_disabled("governance_audittreenode") as cursor:
        cursor.execute('DELETE FROM governance_audittreenode WHERE level = 1 AND "index" = 2')
    # Two more entries fill leaves 6 and 7: node 1/3, which merges with the missing node 1/2.
    audit_entries(2, subject=subject)

    with pytest.raises(MissingNode) as missing, transaction.atomic():
        audit_log_integrate()

    assert "no stored hash at level 1, index 2" in str(missing.value)
    assert AuditPending.objects.count() == 2
    assert AuditLeaf.objects.count() == 6
