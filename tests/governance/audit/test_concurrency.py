"""Concurrent writers: processes that each commit entries one transaction at a time, every commit
followed by its after-commit integration attempt, as in production (children are forked outside the
test's transaction, hence transactional_db). Seqs come out contiguous, each entry exactly once, in
each writer's commit order, and the signed root is the root of the entry bytes recomputed offline."""

import hashlib
import itertools
import multiprocessing
from collections import Counter

import pytest
from django.db import connections, transaction

from governance.audit.services import audit_checkpoint_create, audit_log_integrate, audit_record
from governance.audit.verification import verify_database_log
from governance.choices import AuditEvent
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending
from hooks import tlog
from registry.models import RegisteredModel
from tests.factories import GroupFactory, UserFactory, make_model

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def write(writer: int, count: int, model_pk: int) -> None:
    """One writer process: its own connection, one transaction per entry, as a service commits."""
    try:
        model = RegisteredModel.objects.get(pk=model_pk)
        for number in range(count):
            with transaction.atomic():
                audit_record(
                    actor=None,
                    event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
                    subject=model,
                    model_name=model.name,
                    after={"writer": writer, "n": number},
                    request_id=f"writer-{writer}",
                )
    finally:
        connections.close_all()


def run_writers(writers: int, count: int) -> int:
    """Fork ``writers`` processes that each write ``count`` entries; returns the log size before them."""
    model = make_model(owner=UserFactory(username="owner-c"), team=GroupFactory(name="team-c"), name="model-c")
    base = AuditEntry.objects.count()
    assert audit_log_integrate() == base
    connections.close_all()  # the children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=write, args=(writer, count, model.pk)) for writer in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [process.exitcode for process in processes] == [0] * writers
    return base


def test_concurrent_writers_get_contiguous_seqs_and_a_verifiable_root():
    writers, count = 8, 500
    base = run_writers(writers, count)

    total = base + writers * count
    assert audit_log_integrate() == total
    checkpoint = audit_checkpoint_create()
    assert checkpoint.size == total

    rows = list(AuditLeaf.objects.order_by("seq").values_list("seq", "entry_id", "entry__request_id", "entry__after"))
    assert [seq for seq, *_ in rows] == list(range(total))
    assert len({entry_id for _, entry_id, *_ in rows}) == total
    assert AuditPending.objects.count() == 0
    assert AuditEntry.objects.count() == total
    assert Counter(request_id for *_, request_id, _ in rows[base:]) == {
        f"writer-{writer}": count for writer in range(writers)
    }
    # Each writer committed its entries one after the other: the log has them in that order.
    for writer in range(writers):
        numbers = [after["n"] for *_, request_id, after in rows if request_id == f"writer-{writer}"]
        assert numbers == list(range(count)), writer

    entry_bytes = AuditLeaf.objects.order_by("seq").values_list("entry__entry_bytes", flat=True)
    leaves = [hashlib.sha256(b"\x00" + bytes(data)).digest() for data in entry_bytes]
    assert bytes(checkpoint.root_hash) == tlog.root_from_leaves(leaves)
    # Every checkpoint signed on the way (automatic ones included) verifies against the same leaves.
    report = verify_database_log()
    assert (report.size, report.checkpoints, report.pending, report.root) == (
        total,
        AuditCheckpoint.objects.count(),
        0,
        bytes(checkpoint.root_hash),
    )


def test_checkpoints_keep_their_cadence_under_concurrent_writers(settings):
    """DESIGN.md: a checkpoint at least every N entries. Under a steady stream of commits the log
    must still be checkpointed about every N entries, not once the stream stops."""
    every = 50
    settings.MODELGOV = {**settings.MODELGOV, "CHECKPOINT_EVERY_ENTRIES": every}  # forked children inherit it
    base = run_writers(4, 150)
    sizes = list(AuditCheckpoint.objects.order_by("id").values_list("size", flat=True))
    assert AuditLeaf.objects.count() == base + 600
    gaps = [new - old for old, new in itertools.pairwise([0, *sizes])]
    assert max(gaps) <= every, f"checkpoints at sizes {sizes}"
