"""Writes of the transparency log: recording entries, integrating them into the tree, checkpoints."""

import contextlib
import functools
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.utils import timezone

from core import prepared, rawrows
from core.bounded import BoundedDict
from core.canonical import canonical_json
from core.context import current_request_id
from core.signing import KeyPurpose, service_private_key
from core.transaction import after_commit
from governance.audit import tree
from governance.audit.selectors import audit_export_bundle, audit_seq_of, export_range
from governance.choices import AuditEvent
from governance.errors import AuditOutsideTransaction, CheckpointInconsistent
from governance.models import AuditCheckpoint, AuditEntry, AuditPending
from hooks import tlog

logger = logging.getLogger(__name__)

# pg_advisory lock key of the integrator ("mgov"): one integrator at a time, writers never wait on it.
INTEGRATOR_LOCK = 0x6D676F76
# Held for its whole life by a following integrator (``manage.py integrate_audit_log --follow``, "mgow").
FOLLOWER_LOCK = 0x6D676F77
# Entries one integration statement takes off the queue at most.
BATCH_SIZE = 5000
# How long a writer trusts its last look at whether a follower is running.
FOLLOWER_CHECK_SECONDS = 1.0


@dataclass
class _FollowerLook:
    """This process's last look at whether a follower runs: when, and what it saw."""

    at: float = float("-inf")
    present: bool = False


_follower_seen = _FollowerLook()

# Seqs that this process's integrations gave and committed, by entry id: a writer whose own
# integration placed its entry (the after-commit integration) knows the seq without asking again.
# Bounded: the oldest go first. A seq never changes once its integration commits.
_placed: BoundedDict[int, int] = BoundedDict(10_000)
# The subset that is on disk already: placed by this process's own durable placement (``_PLACE_SQL``).
_placed_on_disk: BoundedDict[int, int] = BoundedDict(10_000)


def _actor_parts(actor: AbstractBaseUser | AnonymousUser | None) -> tuple[int | None, str]:
    if actor is None or not actor.is_authenticated:
        return None, "system"
    return actor.pk, actor.get_username()


_RECORD_SQL = """
WITH entry AS (
    INSERT INTO governance_auditentry (created_at, actor_id, actor_name, event_type, subject_type, subject_id,
                                       subject_repr, model_name, before, after, request_id, entry_bytes, leaf_hash)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)
    RETURNING id, leaf_hash
)
INSERT INTO governance_auditpending (entry_id, leaf_hash) SELECT id, leaf_hash FROM entry RETURNING entry_id
"""


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    event_type: AuditEvent,
    subject: models.Model,
    model_name: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
    insert_subject: bool = False,
    standalone: bool = False,
    place: bool = False,
) -> AuditEntry:
    """Append one entry to the audit log, in the caller's transaction.

    Call it from the service that makes the change, inside that service's ``transaction.atomic``:
    if the change rolls back, so does its entry. The entry's exact canonical bytes and leaf hash
    are stored now; its seq is given after commit by the integrator, so that rolled-back entries
    leave no gap and concurrent writers only INSERT.

    ``insert_subject``: the change is the INSERT of ``subject`` itself (a new instance with its
    primary key set), made here together with its entry. Then no surrounding transaction is needed:
    on PostgreSQL the row, the entry and its queue row are one statement (in autocommit, a
    transaction of its own), elsewhere this opens one.

    ``standalone``: the entry records no change of its own (an export, a verification run, a refused
    request). Outside a transaction it is written on its own, the same way: the entry and its queue row
    are one statement. Inside one it joins it, as any entry does.

    ``place``: the caller needs the entry's seq at once (the gate answers with it). On PostgreSQL,
    with ``insert_subject`` or ``standalone`` outside a transaction, the write commits and the entry is
    integrated right after, durably, in the same round trip (``_PLACE_SQL``); its seq is then known to
    :func:`audit_seq_durable` without another query. Otherwise it changes nothing: the entry is
    integrated after commit as any other.
    """
    # The connection itself, once: every attribute read through django.db.connection is a lookup
    # of the current connection, and an audited write would make a dozen.
    db = transaction.get_connection()
    if insert_subject and subject.pk is None:
        raise ValueError("insert_subject needs the subject's primary key set before the INSERT")
    if not db.in_atomic_block and not (insert_subject or standalone):
        raise AuditOutsideTransaction("audit_record must run inside the transaction of the change it records")
    actor_id, actor_name = _actor_parts(actor)
    now = timezone.now()
    request_id = request_id if request_id is not None else (current_request_id() or "")
    subject_type = subject._meta.label
    subject_id = str(subject.pk)
    subject_repr = str(subject)[:300]
    document = {
        "v": 1,
        "time": now.isoformat().replace("+00:00", "Z"),
        "actor": {"id": actor_id, "name": actor_name},
        "event": str(event_type),
        "subject": {"type": subject_type, "id": subject_id, "repr": subject_repr},
        "model": model_name,
        "before": before,
        "after": after,
        "request_id": request_id,
    }
    entry_bytes = canonical_json(document)
    leaf = tlog.leaf_hash(entry_bytes)
    values = {
        "created_at": now,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "event_type": str(event_type),
        "subject_type": subject_type,
        "subject_id": subject_id,
        "subject_repr": subject_repr,
        "model_name": model_name,
        "before": before,
        "after": after,
        "request_id": request_id,
        "entry_bytes": entry_bytes,
        "leaf_hash": leaf,
    }
    placing = place and db.vendor == "postgresql" and not db.in_atomic_block
    if db.vendor == "postgresql":
        # The entry and its place in the integrator's queue in one prepared statement: every audited
        # write runs it, and compiling two ORM inserts (or planning the statement) cost more than
        # PostgreSQL running it. The instance is then built from the stored values as a query would
        # build it (positional, which is several times cheaper than keyword arguments).
        params = list(values.values())
        params[8:10] = [None if before is None else json.dumps(before), None if after is None else json.dumps(after)]
        sql = _RECORD_SQL
        if insert_subject:
            subject_sql, subject_params = rawrows.insert_statement(subject)
            sql, params = _with_subject_sql(subject_sql), [*subject_params, *params]
        with db.cursor() as cursor:
            if placing:
                values["id"] = _write_and_place(cursor, sql, params)
            else:
                prepared.execute(cursor, sql, params)
                values["id"] = cursor.fetchone()[0]
        if insert_subject:
            rawrows.inserted(subject)
        names = _entry_attnames()
        entry = AuditEntry.from_db(db.alias, names, [values[name] for name in names])
    else:
        # SQLite (the demo): three statements, which get a transaction of their own when none is open.
        with contextlib.nullcontext() if db.in_atomic_block else transaction.atomic(using=db.alias):
            if insert_subject:
                subject.save(force_insert=True)
            entry = AuditEntry(**values)
            entry.save(force_insert=True)
            AuditPending.objects.create(entry=entry, leaf_hash=leaf)
    if not placing and not integrator_following(db):
        after_commit(audit_log_integrate, wait=False)
    return entry


# After the write's own transaction: integrate, waiting for the lock if another integrator holds it
# (that one commits within a millisecond, and this write's entry is then placed by one of the two),
# committed durably: the caller hands the seq out (see ``_take_lock``). The entry's id is the last
# value the write drew from the entries' sequence in this session.
_LAST_ENTRY_ID = "currval(pg_get_serial_sequence('governance_auditentry', 'id'))"
_PLACE_SQL = (
    f"SELECT {_LAST_ENTRY_ID}, "  # noqa: S608 (a fixed expression)
    "tree_size, added, checkpoint_size, entry_ids, seqs FROM mg_audit_integrate(%s, %s, true, false, %s)"
)


def _write_and_place(cursor: Any, sql: str, params: list[Any]) -> int:
    """The write in a transaction of its own, committed durably, then the integration, in one round
    trip; returns the entry's id. A failure before the commit leaves nothing written (and no
    transaction open) and is raised. A failure of the integration after the commit is logged, as an
    after-commit integration's is: the entry stands, and the next integration places it."""
    script: list[str | tuple[str, list[Any]]] = [
        "BEGIN",
        (sql, params),
        "COMMIT",
        (_PLACE_SQL, [INTEGRATOR_LOCK, BATCH_SIZE, _checkpoint_every()]),
    ]
    try:
        prepared.execute_script(cursor, script)
    except DatabaseError as exc:
        prepared.end_open_transaction(cursor)
        if not _raised_in_integrator(exc):
            raise
        # The integrator runs only once the write has committed.
        logger.exception("the integration after an audited write failed; its entry waits in the queue")
        cursor.execute(f"SELECT {_LAST_ENTRY_ID}")
        return int(cursor.fetchone()[0])
    entry_id, size, added, checkpoint_size, entry_ids, seqs = cursor.fetchone()
    batch = _Batch(int(size), int(added), int(checkpoint_size or 0), list(zip(entry_ids, seqs, strict=True)))
    _placed_on_disk.put_all(item for item in batch.placed if item[0] == entry_id)
    try:  # a checkpoint now due, or more than a batch waiting: as after any integration
        _finish_batch(batch, wait=True, batch_size=BATCH_SIZE)
    except Exception:  # the write and its seq are committed (and remembered); the next integration retries the rest
        logger.exception("after an audited write, draining the queue or signing a checkpoint failed")
    return int(entry_id)


def _raised_in_integrator(exc: DatabaseError) -> bool:
    """Whether PostgreSQL raised the error inside ``mg_audit_integrate`` (its context names the function)."""
    diag = getattr(exc.__cause__, "diag", None)
    return "mg_audit_integrate" in (getattr(diag, "context", None) or "")


@functools.cache
def _with_subject_sql(subject_insert: str) -> str:
    # A data-modifying WITH runs whether or not the rest of the statement reads it.
    return f"WITH subject AS ({subject_insert}),{_RECORD_SQL.strip().removeprefix('WITH')}"


@functools.cache
def _entry_attnames() -> tuple[str, ...]:
    return tuple(field.attname for field in AuditEntry._meta.concrete_fields)


def integrator_following(db: Any = None) -> bool:
    """Whether a following integrator holds its lock (PostgreSQL): then writers leave integration to
    it. Asked of the database at most once per FOLLOWER_CHECK_SECONDS per process, so a follower that
    stops is noticed within that time, and writers integrate again; nothing waits in the queue for
    longer than that plus the periodic sweep."""
    db = db or connection
    if db.vendor != "postgresql":
        return False
    now = time.monotonic()
    if now - _follower_seen.at < FOLLOWER_CHECK_SECONDS:
        return _follower_seen.present
    with db.cursor() as cursor:
        # A bigint advisory key shows in pg_locks as classid (high half), objid (low half), objsubid 1.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
            "AND objsubid = 1 AND granted)",
            [FOLLOWER_LOCK >> 32, FOLLOWER_LOCK & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
    _follower_seen.at, _follower_seen.present = now, bool(row and row[0])
    return _follower_seen.present


def integrator_follow_forget() -> None:
    """Forget the last look at the follower (tests; a process that knows one just started or stopped)."""
    _follower_seen.at, _follower_seen.present = float("-inf"), False


def audit_log_follow(*, interval: float = 0.05, stop: threading.Event | None = None) -> None:
    """Integrate continuously (PostgreSQL): the integrator as a process of its own, so that writers
    only insert. Holds FOLLOWER_LOCK for its whole life (a second follower waits on it, a standby);
    integrates whatever is pending, then sleeps ``interval``. Returns when ``stop`` is
    set; a database error ends it (its supervisor restarts it; meanwhile writers integrate again).

    It sleeps ``interval`` after every integration, busy or not: an integration costs about the same
    for one entry as for a thousand, so under load the entries of one interval go in one batch."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [FOLLOWER_LOCK])
    try:
        stop = stop or threading.Event()
        while not stop.is_set():
            audit_log_integrate(wait=True)
            stop.wait(interval)
    finally:
        # After a database error the session may be gone, and its lock with it: the error that ended
        # the loop is the one to report, not a second one from the unlock.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FOLLOWER_LOCK])


def _take_lock(wait: bool, *, asynchronous_commit: bool = False) -> bool:
    """The integrator lock for this transaction (PostgreSQL), in a statement of its own: what the
    integrator reads next must be read after it.

    ``asynchronous_commit``: the transaction commits without waiting for the disk (set in the same
    statement). Only for plain integration, which is derived data: the entries and their queue rows
    were committed durably by the writes themselves. Should a database crash lose this commit (within
    about 200 ms of it, before PostgreSQL's WAL writer flushed it), the queue rows are back and the
    next integration places those entries again, in entry-id order, which need not be the order they
    had: an entry committed after the lost integration read the queue may now come first. So nothing
    that hands a seq out commits this way: a transaction that signs a checkpoint commits durably
    (``_commit_durably``), and with it every integration before it; the gate's own placement, whose
    seq is in its answer, commits durably too (``_PLACE_SQL``). Seqs above the latest checkpoint that
    after-commit integrations gave may change after such a crash; verifiers check against checkpoints."""
    if connection.vendor != "postgresql":
        return True  # SQLite (demo) serialises writers itself; the seq primary key catches a race.
    lock = "(SELECT true FROM pg_advisory_xact_lock(%s))" if wait else "pg_try_advisory_xact_lock(%s)"
    commit = ", set_config('synchronous_commit', 'off', true)" if asynchronous_commit else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {lock}{commit}", [INTEGRATOR_LOCK])
        row = cursor.fetchone()
    return bool(row and row[0])


_TAKE_SQL = (
    "DELETE FROM governance_auditpending WHERE entry_id IN "
    "(SELECT entry_id FROM governance_auditpending ORDER BY entry_id LIMIT %s) RETURNING entry_id, leaf_hash"
)
# PostgreSQL: one batch integrated by the database itself (migration governance 0009): the lock, the
# right edge, the queue and the new leaves and nodes in one statement.
# ``checkpoint_every`` (the last argument) stops a batch where the next checkpoint falls due (migration 0012).
_INTEGRATE_SQL = "SELECT tree_size, added, checkpoint_size, entry_ids, seqs FROM mg_audit_integrate(%s, %s, %s, %s, %s)"


@dataclass(frozen=True)
class _Batch:
    size: int  # the tree size after the batch
    added: int
    checkpoint_size: int  # of the latest signed checkpoint (0 before the first)
    placed: list[tuple[int, int]]  # (entry id, seq)


def _integrate_in_database(
    batch_size: int, *, wait: bool, asynchronous: bool, checkpoint_every: int = 0
) -> _Batch | None:
    """One batch through ``mg_audit_integrate`` (PostgreSQL); None when ``wait`` is False and another
    integrator holds the lock. In autocommit this is the whole transaction; inside one, it joins it.
    ``checkpoint_every`` > 0: the batch stops where the next checkpoint falls due."""
    with connection.cursor() as cursor:
        try:
            params = [INTEGRATOR_LOCK, batch_size, wait, asynchronous, checkpoint_every]
            prepared.execute(cursor, _INTEGRATE_SQL, params)
        except DatabaseError as exc:
            if getattr(exc.__cause__, "pgcode", None) == "XX001":  # data_corrupted: a right-edge hash is missing
                raise tree.MissingNode(str(exc.__cause__).strip()) from exc
            raise
        row = cursor.fetchone()
    if row is None:
        return None
    size, added, checkpoint_size, entry_ids, seqs = row
    return _Batch(int(size), int(added), int(checkpoint_size or 0), list(zip(entry_ids, seqs, strict=True)))


def _integrate_batch(batch_size: int, size: int, placed: list[tuple[int, int]] | None = None) -> int:
    """Give the oldest pending entries the next seqs and store the subtrees they complete, under the
    integrator lock; returns how many. PostgreSQL integrates the batch itself (one statement); on SQLite
    (the demo) plain statements take the batch and store what this computes."""
    if connection.vendor == "postgresql":
        batch = _integrate_in_database(batch_size, wait=True, asynchronous=False)  # the lock is held: re-entrant
        if batch is None or batch.size != size + batch.added:
            raise RuntimeError(f"the integrator lock is held, yet the tree is not of size {size} any more")
        if placed is not None:
            placed.extend(batch.placed)
        return batch.added
    # The right edge of the current tree: the perfect subtrees new leaves merge into.
    positions = tree.right_edge(size)
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, [batch_size])
        pending = sorted(cursor.fetchall())
        if not pending:
            return 0
        get = tree.getter(tree.fetch_subtrees(positions))
        stack: list[tuple[int, int, bytes]] = [(level, index, get(level, index)) for level, index in positions]
        leaves: list[tuple[int, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for offset, (entry_id, leaf_hash) in enumerate(pending):
            seq = size + offset
            leaf = bytes(leaf_hash)
            leaves.append((seq, entry_id, leaf))
            stack.append((0, seq, leaf))
            while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
                right_level, _, right = stack.pop()
                _, left_index, left = stack.pop()
                merged = (right_level + 1, left_index >> 1, tlog.node_hash(left, right))
                nodes.append(merged)
                stack.append(merged)
        _insert_rows(cursor, "governance_auditleaf", ("seq", "entry_id", "leaf_hash"), leaves)
        _insert_rows(cursor, "governance_audittreenode", ("level", '"index"', "hash"), nodes)
    if placed is not None:
        placed.extend((entry_id, seq) for seq, entry_id, _leaf in leaves)
    return len(pending)


def _insert_rows(cursor: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs of at most 1,000 rows (SQLite's limits stay far away)."""
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        values = ", ".join([placeholders] * len(chunk))
        # Only fixed table and column names and placeholders are joined in; every value is a parameter.
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}",  # noqa: S608
            [value for row in chunk for value in row],
        )


def audit_log_integrate(*, wait: bool = True, batch_size: int = BATCH_SIZE) -> int | None:
    """Integrate every pending entry into the tree; returns the tree size, or None when another
    integrator holds the lock and ``wait`` is False (that integrator drains the queue)."""
    if connection.vendor == "postgresql":
        return _integrate_postgresql(wait=wait, batch_size=batch_size)
    try:
        with transaction.atomic():
            if not _take_lock(wait, asynchronous_commit=True):
                return None
            placed: list[tuple[int, int]] = []
            size = _drain_locked(batch_size, placed=placed)
            after_commit(_remember_placed, placed)
            return size
    except IntegrityError:
        logger.info("another integrator got there first (SQLite); nothing lost, its leaves stand")
        return None


def _integrate_postgresql(*, wait: bool, batch_size: int) -> int | None:
    """The common case in one statement: ``mg_audit_integrate`` takes the lock and a batch in its own
    transaction, committed asynchronously (see ``_take_lock``). When that batch was full (more is
    pending) or a checkpoint is due, the rest is drained under the lock as a checkpoint drains."""
    batch = _integrate_in_database(batch_size, wait=wait, asynchronous=True, checkpoint_every=_checkpoint_every())
    if batch is None:  # another integrator holds the lock: it drains the queue
        return None
    return _finish_batch(batch, wait=wait, batch_size=batch_size)


def _finish_batch(batch: _Batch, *, wait: bool, batch_size: int) -> int:
    """After a batch: remember the seqs it placed, then drain the rest under the lock when the batch
    was full or a checkpoint is due (remembering those too); returns the tree size. A batch stops where
    a checkpoint falls due, so a due checkpoint may leave entries queued: the drain signs it and goes on."""
    if batch.placed:
        after_commit(_remember_placed, batch.placed)  # at once, unless inside a transaction
    size = batch.size
    if batch.added == batch_size or size - batch.checkpoint_size >= _checkpoint_every():
        more: list[tuple[int, int]] = []
        with transaction.atomic():
            if _take_lock(wait, asynchronous_commit=True):  # else another integrator drains the rest
                size = _drain_locked(batch_size, placed=more)
        if more:
            after_commit(_remember_placed, more)
    return size


def _checkpoint_every() -> int:
    return max(int(settings.MODELGOV["CHECKPOINT_EVERY_ENTRIES"]), 1)


def _remember_placed(placed: list[tuple[int, int]]) -> None:
    _placed.put_all(placed)


def forget_placed(**_kwargs: Any) -> None:
    _placed.forget()
    _placed_on_disk.forget()


def audit_seq_known(*, entry_id: int) -> int | None:
    """The seq of an entry: from this process's own committed integrations if one placed it, else from
    the database (None while it is still queued)."""
    seq = _placed.get(entry_id)
    return seq if seq is not None else audit_seq_of(entry_id=entry_id)


def audit_seq_durable(*, entry_id: int) -> int | None:
    """The seq of an entry, on disk, for a caller that hands it out (the gate's answer); None when the
    entry could not be placed now (logged: the entry is committed and the next integration places it).

    Placed by this process's own durable placement: known, nothing to ask. Otherwise it is integrated if
    it still waits, and the integration that placed it (committed asynchronously: by another writer,
    the follower, or after a promotion's commit) is flushed by a transaction of its own that commits
    durably: WAL is written in order, so every commit before it is on disk with it."""
    seq = _placed_on_disk.get(entry_id)
    if seq is not None:
        return seq
    try:
        seq = audit_seq_known(entry_id=entry_id)
        if seq is None:
            audit_log_integrate(wait=True)
            seq = audit_seq_known(entry_id=entry_id)
        if seq is not None:
            _flush_commits()
    except Exception:  # the entry and what it records are committed; only its seq is not given now
        logger.exception("placing audit entry %s failed; it waits in the queue", entry_id)
        return None
    return seq


def _flush_commits() -> None:
    """Wait until every commit made so far is on disk (PostgreSQL, outside a transaction): a transaction
    with an id commits durably, and WAL is flushed in order."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")


def _drain_locked(batch_size: int, *, cadence: bool = True, placed: list[tuple[int, int]] | None = None) -> int:
    """Integrate what is pending, batch by batch, under the integrator lock; returns the tree size.

    A batch takes what is pending when it starts; with ``cadence`` a batch stops where the next checkpoint
    falls due and the checkpoint is signed there, so the log is checkpointed every
    CHECKPOINT_EVERY_ENTRIES entries exactly, also under a steady stream of writers. A batch smaller than
    it could be emptied the queue as it stood: entries committed since are integrated by their writers,
    the follower or the sweep."""
    every = _checkpoint_every()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT size FROM governance_auditcheckpoint ORDER BY id DESC LIMIT 1), "  # noqa: S608
            f"({tree.LAST_SEQ_SQL})"
        )
        latest_size, last_seq = cursor.fetchone()
    latest, size = int(latest_size or 0), tree.size_after(last_seq)
    while True:
        if cadence and size - latest >= every:
            latest = _checkpoint_sign_locked().size
        # With the cadence, a batch stops where the next checkpoint falls due: one every ``every`` entries.
        take = min(batch_size, every - (size - latest)) if cadence else batch_size
        added = _integrate_batch(take, size, placed)
        size += added
        if added < take:
            if cadence and size - latest >= every:
                _checkpoint_sign_locked()
            return size


def audit_checkpoint_create(*, actor: Any = None) -> AuditCheckpoint:
    """Sign a checkpoint of the whole integrated log, after checking it is consistent with the
    previous checkpoint. Refuses (CheckpointInconsistent) rather than sign a forked history."""
    with transaction.atomic():
        _take_lock(wait=True)
        _drain_locked(BATCH_SIZE, cadence=False)  # the checkpoint below covers all of it
        return _checkpoint_sign_locked()


def _checkpoint_sign_locked() -> AuditCheckpoint:
    """Sign the tree as it stands; the caller holds the integrator lock inside its transaction."""
    size = tree.tree_size()
    root = tree.root_at(size)
    previous = AuditCheckpoint.objects.order_by("-id").first()
    if previous is not None:
        old_root = bytes(previous.root_hash)
        if size < previous.size:
            raise CheckpointInconsistent(
                "The log is smaller than its last checkpoint.",
                extra={"previous_size": previous.size, "size": size},
            )
        if size == previous.size and root == old_root:
            return previous
        try:
            proof = tree.consistency_proof(previous.size, size)
            tlog.verify_consistency(previous.size, size, old_root, root, proof)
        except (tlog.ProofError, tree.MissingNode) as exc:
            logger.critical("refusing to sign checkpoint %s: inconsistent with %s: %s", size, previous.size, exc)
            raise CheckpointInconsistent(
                "The log is not consistent with its last checkpoint; nothing was signed.",
                extra={"previous_size": previous.size, "size": size, "reason": str(exc)},
            ) from None
    checkpoint = tlog.Checkpoint(origin=settings.MODELGOV["LOG_ORIGIN"], size=size, root=root)
    note = tlog.sign_checkpoint(
        checkpoint, settings.MODELGOV["LOG_KEY_NAME"], service_private_key(KeyPurpose.LOG_CHECKPOINT)
    )
    _commit_durably()
    return AuditCheckpoint.objects.create(size=size, root_hash=root, note=note)


def _commit_durably() -> None:
    """This transaction commits only once it is on disk, whatever an integration set before (a signed
    checkpoint is handed out: a crash must not take back the seqs under it). WAL is written in order, so
    every asynchronous integration committed before it is on disk too."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('synchronous_commit', 'on', true)")


def audit_log_export(*, actor: Any, start: int | None, end: int | None) -> dict[str, Any]:
    """Sign a fresh checkpoint, build the export bundle, and log who exported what (ISO 42001 7.5).

    The range is checked first against everything the log holds or is about to hold, so that a refused
    export signs nothing."""
    export_range(start, end, tree.tree_size() + AuditPending.objects.count())
    checkpoint = audit_checkpoint_create()
    bundle = audit_export_bundle(start=start, end=end)
    audit_record(
        actor=actor,
        event_type=AuditEvent.AUDIT_LOG_EXPORTED,
        subject=checkpoint,
        after={"from": bundle["from"], "to": bundle["to"], "checkpoint_size": checkpoint.size},
        standalone=True,
    )
    return bundle


def audit_log_verified_record(*, actor: Any, result: dict[str, Any]) -> None:
    """Log an integrity verification of the chain and its outcome (REGULATORY.md event 29)."""
    checkpoint = AuditCheckpoint.objects.order_by("-id").first()
    if checkpoint is None:
        return
    audit_record(
        actor=actor, event_type=AuditEvent.AUDIT_LOG_VERIFIED, subject=checkpoint, after=result, standalone=True
    )
