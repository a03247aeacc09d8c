"""Entries of the transparency log: their exact bytes, their leaf hashes, and the integrator that
gives committed entries contiguous seqs and stores the tree's perfect subtrees."""

import hashlib

import pytest
from django.db import transaction

from governance.audit import tree
from governance.audit.services import audit_log_integrate, audit_record
from governance.choices import AuditEvent
from governance.models import AuditEntry, AuditLeaf, AuditPending, AuditTreeNode
from hooks import tlog
from tests.factories import UserFactory, audit_entries


def leaf_of(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def seqs() -> list[int]:
    return list(AuditLeaf.objects.order_by("seq").values_list("seq", flat=True))


def test_entry_stores_canonical_bytes_and_its_rfc6962_leaf_hash(subject):
    actor = UserFactory(username="alice")
    with transaction.atomic():
        entry = audit_record(
            actor=actor,
            event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
            subject=subject,
            model_name="model-x",
            before={"z": 1, "a": [2, 1]},
            after={"name": "Zoë", "b": {"y": None, "x": 1.5}},
            request_id="req-1",
        )
    stored = AuditEntry.objects.get(pk=entry.pk)
    time = stored.created_at.isoformat().replace("+00:00", "Z")
    expected = (
        f'{{"actor":{{"id":{actor.pk},"name":"alice"}},"after":{{"b":{{"x":1.5,"y":null}},"name":"Zoë"}},'
        f'"before":{{"a":[2,1],"z":1}},"event":"REGISTERED_MODEL_UPDATED","model":"model-x","request_id":"req-1",'
        f'"subject":{{"id":"{subject.pk}","repr":"audited-subject","type":"auth.Group"}},"time":"{time}","v":1}}'
    ).encode()
    assert bytes(stored.entry_bytes) == expected
    assert bytes(stored.leaf_hash) == hashlib.sha256(b"\x00" + expected).digest()
    assert (
        stored.actor_id,
        stored.actor_name,
        stored.event_type,
        stored.subject_type,
        stored.subject_id,
        stored.subject_repr,
        stored.model_name,
        stored.before,
        stored.after,
        stored.request_id,
    ) == (
        actor.pk,
        "alice",
        "REGISTERED_MODEL_UPDATED",
        "auth.Group",
        str(subject.pk),
        "audited-subject",
        "model-x",
        {"z": 1, "a": [2, 1]},
        {"name": "Zoë", "b": {"y": None, "x": 1.5}},
        "req-1",
    )
    # Not in the tree until the integrator runs after commit: queued, with the same leaf hash.
    assert bytes(AuditPending.objects.get(entry_id=entry.pk).leaf_hash) == bytes(stored.leaf_hash)
    assert AuditLeaf.objects.count() == 0


def test_entry_without_actor_is_by_system(subject):
    with transaction.atomic():
        entry = audit_record(actor=None, event_type=AuditEvent.AUDIT_LOG_VERIFIED, subject=subject, request_id="")
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_name) == (None, "system")
    assert b'"actor":{"id":null,"name":"system"}' in bytes(stored.entry_bytes)
    assert b'"after":null,"before":null' in bytes(stored.entry_bytes)


@pytest.mark.parametrize("batch_size", [1, 3, 5000])
def test_integration_gives_contiguous_seqs_in_insertion_order(subject, batch_size):
    entries = audit_entries(7, subject=subject)
    assert audit_log_integrate(batch_size=batch_size) == 7
    assert list(AuditLeaf.objects.order_by("seq").values_list("seq", "entry_id")) == [
        (seq, entry.pk) for seq, entry in enumerate(entries)
    ]
    assert [bytes(leaf) for leaf in AuditLeaf.objects.order_by("seq").values_list("leaf_hash", flat=True)] == [
        leaf_of(bytes(entry.entry_bytes)) for entry in entries
    ]
    assert AuditPending.objects.count() == 0
    more = audit_entries(3, subject=subject)
    assert audit_log_integrate(batch_size=batch_size) == 10
    assert seqs() == list(range(10))
    assert AuditLeaf.objects.get(seq=7).entry_id == more[0].pk


def test_integrating_nothing_changes_nothing(subject):
    audit_entries(5, subject=subject)
    assert audit_log_integrate() == 5
    nodes = AuditTreeNode.objects.count()
    assert audit_log_integrate() == 5
    assert (AuditLeaf.objects.count(), AuditTreeNode.objects.count()) == (5, nodes)


def test_rolled_back_entry_leaves_no_entry_no_pending_row_and_no_gap(subject):
    audit_entries(3, subject=subject)
    assert audit_log_integrate() == 3
    entries_before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError, match=r"^the change failed$"), transaction.atomic():
        audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)
        raise RuntimeError("the change failed")
    assert AuditEntry.objects.count() == entries_before
    assert AuditPending.objects.count() == 0
    assert audit_log_integrate() == 3
    [after] = audit_entries(1, subject=subject)
    assert audit_log_integrate() == 4
    assert AuditLeaf.objects.get(entry_id=after.pk).seq == 3
    assert seqs() == [0, 1, 2, 3]


def test_rolled_back_entry_between_pending_entries_leaves_no_gap(subject):
    [first] = audit_entries(1, subject=subject)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)
        raise RuntimeError("the change failed")
    [last] = audit_entries(1, subject=subject)
    assert list(AuditPending.objects.order_by("entry_id").values_list("entry_id", flat=True)) == [first.pk, last.pk]
    assert audit_log_integrate() == 2
    assert list(AuditLeaf.objects.order_by("seq").values_list("seq", "entry_id")) == [(0, first.pk), (1, last.pk)]


def test_after_commit_integration_runs_for_committed_entries_only(subject, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)
            raise RuntimeError("the change failed")
        with transaction.atomic():
            kept = audit_record(actor=None, event_type=AuditEvent.REGISTERED_MODEL_UPDATED, subject=subject)
    # One integration, after the commit that kept an entry (and the integration's own note of the seq
    # it gave, made once the test's transaction would commit).
    assert [callback.__qualname__ for callback in callbacks] == [
        "after_commit(audit_log_integrate)",
        "after_commit(_remember_placed)",
    ]
    assert list(AuditLeaf.objects.values_list("seq", "entry_id")) == [(0, kept.pk)]
    assert AuditPending.objects.count() == 0


@pytest.mark.parametrize("batch", [1, 3, 4, 7, 37])
def test_stored_nodes_are_exactly_the_complete_perfect_subtrees(subject, batch):
    total = 0
    while total < 37:
        step = min(batch, 37 - total)
        audit_entries(step, subject=subject)
        total += step
        assert audit_log_integrate() == total
        assert AuditTreeNode.objects.count() == total - bin(total).count("1")
    leaves = [bytes(leaf) for leaf in AuditLeaf.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    stored = {
        (level, index): bytes(digest)
        for level, index, digest in AuditTreeNode.objects.values_list("level", "index", "hash")
    }
    expected = {
        (level, index): tlog.root_from_leaves(leaves[index << level : (index + 1) << level])
        for level in range(1, 6)
        for index in range(37 >> level)
    }
    assert stored == expected


def test_root_at_every_size_is_the_root_of_the_leaves(subject):
    audit_entries(23, subject=subject)
    assert audit_log_integrate() == 23
    leaves = [
        leaf_of(bytes(data)) for data in AuditLeaf.objects.order_by("seq").values_list("entry__entry_bytes", flat=True)
    ]
    for size in range(24):
        assert tree.root_at(size) == tlog.root_from_leaves(leaves[:size]), size
    assert tree.root_at(0) == hashlib.sha256(b"").digest()


def test_a_proof_and_its_roots_come_from_one_read_and_match_the_leaves(subject):
    """inclusion_proof_and_root and consistency_proof_and_roots read every hash they need in one
    statement (on PostgreSQL, one prepared EXECUTE) and answer what the RFC 9162 reference computes
    from the leaves."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    audit_entries(23, subject=subject)
    assert audit_log_integrate() == 23
    leaves = [
        leaf_of(bytes(data)) for data in AuditLeaf.objects.order_by("seq").values_list("entry__entry_bytes", flat=True)
    ]
    # Every perfect subtree of the 23 leaves, in memory: the reference the stored tree must answer as.
    memory = {
        (level, index): digest
        for level, hashes in enumerate(tlog.perfect_levels(leaves))
        for index, digest in enumerate(hashes)
    }
    tree.inclusion_proof_and_root(0, 1)  # prepares the statement in this session

    for size in range(1, 24):
        for index in range(size):
            with CaptureQueriesContext(connection) as queries:
                proof, root = tree.inclusion_proof_and_root(index, size)
            assert len(queries) == 1
            assert queries[0]["sql"].startswith("EXECUTE")
            assert root == tlog.root_from_leaves(leaves[:size])
            assert proof == tlog.inclusion_proof(index, size, memory)
            tlog.verify_inclusion(leaves[index], index, size, proof, root)
    for old in range(24):
        for new in range(old, 24):
            with CaptureQueriesContext(connection) as queries:
                proof, old_root, new_root = tree.consistency_proof_and_roots(old, new)
            assert len(queries) == (1 if new else 0)  # the empty tree's root needs no stored hash
            assert (old_root, new_root) == (tlog.root_from_leaves(leaves[:old]), tlog.root_from_leaves(leaves[:new]))
            assert proof == tlog.consistency_proof(old, new, memory) == tree.consistency_proof(old, new)
            tlog.verify_consistency(old, new, old_root, new_root, proof)


def test_hashes_that_are_not_stored_are_absent_from_a_read(subject):
    audit_entries(5, subject=subject)
    assert audit_log_integrate() == 5

    found = tree.fetch_subtrees([(0, 4), (0, 5), (2, 0), (2, 1), (1, 2)])

    assert set(found) == {(0, 4), (2, 0)}
    assert found[(2, 0)] == bytes(AuditTreeNode.objects.get(level=2, index=0).hash)
    assert tree.fetch_subtrees([]) == {}
