"""Full verification of the log as stored in the database (``manage.py verify_audit_log``).

It trusts nothing it can re-derive: every leaf is re-hashed from the entry's stored bytes, seqs must
run 0..n-1 without a gap, every stored tree node must equal the recomputed one, and every checkpoint
must carry a valid signature by the pinned log key, name our origin, and match the recomputed root
at its size. The first problem found is reported with the first seq it concerns.

Two ways, one verdict. On PostgreSQL, set-based statements check everything at once (the hashing and
the column checks run in the server, in parallel; the tree is recomputed from one blob of leaf hashes
and compared with the stored nodes a level at a time). They accept only a log the walk accepts; a log
they do not accept (or cannot read: bytes that are not JSON) is walked entry by entry in seq order,
which names the first problem. SQLite (the demo) always walks.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import Exists, OuterRef

from core.signing import KeyPurpose, service_public_key
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending
from hooks import tlog

_LEAVES_SQL = """
SELECT l.seq, l.leaf_hash, e.leaf_hash, e.entry_bytes,
       e.created_at, e.actor_id, e.actor_name, e.event_type, e.subject_type, e.subject_id, e.subject_repr,
       e.model_name, e.before, e.after, e.request_id
FROM governance_auditleaf l LEFT JOIN governance_auditentry e ON e.id = l.entry_id
ORDER BY l.seq
"""
# The leaves the other statements cover: seqs below the returned size. Appends only add seqs at the end.
_EXTENT_SQL = "SELECT count(*), COALESCE(max(seq) + 1, 0), min(seq) FROM governance_auditleaf"
# Every leaf of [0, size) with its entry: the count of those joined, and the first seq whose entry does
# not hash to both stored leaf hashes or whose indexed columns do not say what its signed bytes say (the
# document rebuilt from the columns must equal the parsed bytes, "v" aside). An inner join, so that the
# narrow leaf table is the hashed side; a leaf without its entry shows as a short count. Bytes that are
# not UTF-8 JSON raise a DataError: the walk reports them.
_ENTRIES_SQL = r"""
SELECT count(*), min(l.seq) FILTER (WHERE
    e.leaf_hash IS DISTINCT FROM sha256('\x00'::bytea || e.entry_bytes)
    OR l.leaf_hash IS DISTINCT FROM e.leaf_hash
    OR convert_from(e.entry_bytes, 'UTF8')::jsonb - 'v' IS DISTINCT FROM jsonb_build_object(
        'time', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
            || CASE WHEN date_trunc('second', e.created_at) = e.created_at THEN ''
                    ELSE to_char(e.created_at AT TIME ZONE 'UTC', '.US') END
            || 'Z',
        'actor', jsonb_build_object('id', e.actor_id, 'name', e.actor_name),
        'event', e.event_type,
        'subject', jsonb_build_object('type', e.subject_type, 'id', e.subject_id, 'repr', e.subject_repr),
        'model', e.model_name,
        'before', e.before,
        'after', e.after,
        'request_id', e.request_id
    )
)
FROM governance_auditleaf l JOIN governance_auditentry e ON e.id = l.entry_id
WHERE l.seq < %s
"""
_LEAF_BLOB_SQL = "SELECT string_agg(leaf_hash, ''::bytea ORDER BY seq) FROM governance_auditleaf WHERE seq < %s"
_NODE_LEVELS_SQL = """
SELECT level, count(*), min("index"), max("index"), min(length(hash)), max(length(hash)),
       string_agg(hash, ''::bytea ORDER BY "index")
FROM governance_audittreenode GROUP BY level ORDER BY level
"""
# Nodes in the order a left-to-right append completes them: by their last leaf, then level.
_NODES_SQL = """
SELECT level, "index", hash FROM governance_audittreenode
ORDER BY (("index" + 1) * (CAST(1 AS BIGINT) << level)) - 1, level
"""


class LogInvalid(Exception):
    """The stored log does not verify; ``seq`` is the first seq concerned, if one can be named."""

    def __init__(self, message: str, *, code: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.seq = seq


@dataclass
class LogReport:
    size: int
    checkpoints: int
    pending: int
    root: bytes
    notes: list[str] = field(default_factory=list)


def _checkpoints(known_note: str | None) -> list[tuple[str, tlog.Checkpoint]]:
    key = service_public_key(KeyPurpose.LOG_CHECKPOINT)
    origin, key_name = settings.MODELGOV["LOG_ORIGIN"], settings.MODELGOV["LOG_KEY_NAME"]
    opened: list[tuple[str, tlog.Checkpoint]] = []
    notes = [
        (f"checkpoint #{pk}", note) for pk, note in AuditCheckpoint.objects.order_by("id").values_list("id", "note")
    ]
    if known_note is not None:
        notes.append(("the known checkpoint", known_note))
    for label, note in notes:
        try:
            opened.append((label, tlog.open_checkpoint(note, key_name, key, origin=origin)))
        except tlog.NoteError as exc:
            raise LogInvalid(f"{label}: {exc}", code="bad_checkpoint") from None
    by_size: dict[int, tuple[str, bytes]] = {}
    for label, checkpoint in opened:
        seen = by_size.setdefault(checkpoint.size, (label, checkpoint.root))
        if seen[1] != checkpoint.root:
            raise LogInvalid(
                f"{seen[0]} and {label} both have size {checkpoint.size} but different roots: the log forked",
                code="inconsistent_checkpoints",
                seq=checkpoint.size - 1 if checkpoint.size else None,
            )
    return opened


def _chunked(cursor: Any, size: int = 5000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def _json_column(value: Any) -> Any:
    # PostgreSQL's driver decodes jsonb; SQLite (the demo) hands back its text.
    return json.loads(value) if isinstance(value, str) else value


def _time_column(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_ABSENT = object()


def _signed(document: Any, *path: str) -> Any:
    """The value at ``path`` in the entry's document, or a marker no column equals if it is absent."""
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return _ABSENT
        document = document[key]
    return document


def _columns_problem(document: Any, columns: tuple[Any, ...]) -> str | None:
    """The first indexed column (what the API lists and filters on) that no longer says what the
    entry's signed bytes say, or None."""
    created_at, actor_id, actor_name, event, subject_type, subject_id, subject_repr, model, before, after, request = (
        columns
    )
    expected = (
        ("created_at", ("time",), _time_column(created_at)),
        ("actor_id", ("actor", "id"), actor_id),
        ("actor_name", ("actor", "name"), actor_name),
        ("event_type", ("event",), event),
        ("subject_type", ("subject", "type"), subject_type),
        ("subject_id", ("subject", "id"), subject_id),
        ("subject_repr", ("subject", "repr"), subject_repr),
        ("model_name", ("model",), model),
        ("before", ("before",), _json_column(before)),
        ("after", ("after",), _json_column(after)),
        ("request_id", ("request_id",), request),
    )
    for name, path, stored in expected:
        if _signed(document, *path) != stored:
            return name
    return None


def verify_database_log(*, known_checkpoint: str | None = None) -> LogReport:
    """Verify the whole stored log; raises LogInvalid naming the first bad seq."""
    checkpoints = _checkpoints(known_checkpoint)
    wanted = {cp.size for _, cp in checkpoints}
    verified = _verified_at_once(wanted) if connection.vendor == "postgresql" else None
    size, roots = verified if verified is not None else _walk(wanted)
    good = 0
    for label, checkpoint in sorted(checkpoints, key=lambda item: item[1].size):
        if checkpoint.size > size:
            raise LogInvalid(
                f"{label} has size {checkpoint.size} but the log holds {size} entries: it was truncated or rolled back",
                code="rolled_back",
                seq=size,
            )
        if roots[checkpoint.size] != checkpoint.root:
            raise LogInvalid(
                f"entries seq {good}..{checkpoint.size - 1} do not hash to {label} (size {checkpoint.size})",
                code="root_mismatch",
                seq=good,
            )
        good = checkpoint.size
    _check_the_queue()
    pending = AuditEntry.objects.filter(leaf__isnull=True).count()
    return LogReport(size=size, checkpoints=len(checkpoints), pending=pending, root=roots[size])


def _check_the_queue() -> None:
    """An entry without a leaf waits in the integrator's queue; one that is in neither was taken off
    the queue without being placed (a deleted queue row), which would keep it out of the log for good;
    one in both was queued again, which stops every integration at it."""
    has_leaf = Exists(AuditLeaf.objects.filter(entry_id=OuterRef("entry_id")))
    queued = Exists(AuditPending.objects.filter(entry_id=OuterRef("pk")))
    problems = (
        (
            AuditEntry.objects.filter(leaf__isnull=True).exclude(queued).order_by("pk").values_list("pk", flat=True),
            "dequeued_entry",
            "has no seq and is not queued for one: it was taken off the integrator's queue",
        ),
        (
            AuditPending.objects.filter(has_leaf).order_by("entry_id").values_list("entry_id", flat=True),
            "requeued_entry",
            "has a seq and is queued again: the queue row blocks every integration",
        ),
    )
    for entry_ids, code, what in problems:
        first = entry_ids.first()
        if first is not None:
            raise LogInvalid(f"entry {first} {what}", code=code)


def _verified_at_once(wanted: set[int]) -> tuple[int, dict[int, bytes]] | None:
    """The log's size and its roots at the wanted sizes (and its own), if set-based checks find
    nothing wrong; None otherwise, and the walk names what is wrong.

    PostgreSQL hashes every entry and compares its columns in one parallel scan. The tree is then
    recomputed here from the leaf hashes (fetched as one blob) and each level compared with the
    stored nodes of that level (one blob per level): every stored node is checked, none may be
    missing or extra. Outside a transaction, one REPEATABLE READ snapshot covers every statement.
    """
    snapshot = not connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(_EXTENT_SQL)
            count, size, first = cursor.fetchone()
            if count != size or (size and first != 0):
                return None
            cursor.execute(_ENTRIES_SQL, [size])
            joined, first_bad = cursor.fetchone()
            if joined != size or first_bad is not None:
                return None
            cursor.execute(_LEAF_BLOB_SQL, [size])
            blob = bytes(cursor.fetchone()[0] or b"")
            cursor.execute(_NODE_LEVELS_SQL)
            stored = {level: (*figures, bytes(hashes)) for level, *figures, hashes in cursor.fetchall()}
    except DataError:
        return None
    hash_size = tlog.HASH_SIZE
    levels = list(tlog.perfect_levels([blob[at : at + hash_size] for at in range(0, len(blob), hash_size)]))
    if len(stored) != max(len(levels) - 1, 0):
        return None
    for level, hashes in enumerate(levels[1:], start=1):
        if stored.get(level) != (len(hashes), 0, len(hashes) - 1, hash_size, hash_size, b"".join(hashes)):
            return None

    def subtree(level: int, index: int) -> bytes:
        return levels[level][index]

    return size, {at: tlog.root_from_subtrees(at, subtree) for at in {*wanted, size} if at <= size}


def _walk(wanted: set[int]) -> tuple[int, dict[int, bytes]]:
    """Entry by entry in seq order, raising LogInvalid at the first problem; else the log's size and
    its roots at the wanted sizes (and its own)."""
    compact = tlog.CompactRange()
    roots: dict[int, bytes] = {0: tlog.EMPTY_ROOT}
    # Server-side cursors: a million entries stream through in chunks instead of loading at once.
    with (
        transaction.atomic(),
        connection.chunked_cursor() as leaves_cursor,
        connection.chunked_cursor() as nodes_cursor,
    ):
        leaves_cursor.execute(_LEAVES_SQL)
        nodes_cursor.execute(_NODES_SQL)
        # Chunks, never fetchone(): on a server-side cursor each fetchone() is a round trip.
        nodes = _chunked(nodes_cursor)
        next_node = next(nodes, None)
        while rows := leaves_cursor.fetchmany(5000):
            for seq, stored_leaf, entry_leaf, entry_bytes, *columns in rows:
                if seq != compact.size:
                    raise LogInvalid(
                        f"seq {compact.size} is missing (next is {seq})", code="missing_entry", seq=compact.size
                    )
                if entry_bytes is None:
                    raise LogInvalid(f"seq {seq}: its entry row is gone", code="missing_entry", seq=seq)
                leaf = tlog.leaf_hash(bytes(entry_bytes))
                if leaf != bytes(entry_leaf) or leaf != bytes(stored_leaf):
                    raise LogInvalid(f"seq {seq}: the entry's bytes do not hash to its leaf", code="bad_entry", seq=seq)
                try:
                    document = json.loads(bytes(entry_bytes))
                except ValueError:
                    raise LogInvalid(f"seq {seq}: the entry's bytes are not JSON", code="bad_entry", seq=seq) from None
                column = _columns_problem(document, tuple(columns))
                if column is not None:
                    raise LogInvalid(
                        f"seq {seq}: the stored {column} column no longer matches the entry's bytes",
                        code="bad_entry",
                        seq=seq,
                    )
                for subtree in compact.append(leaf)[1:]:
                    if next_node is None or (next_node[0], next_node[1]) != (subtree.level, subtree.index):
                        raise LogInvalid(
                            f"tree node level {subtree.level} index {subtree.index} is missing",
                            code="bad_node",
                            seq=subtree.index << subtree.level,
                        )
                    if bytes(next_node[2]) != subtree.hash:
                        raise LogInvalid(
                            f"tree node level {subtree.level} index {subtree.index} does not match its leaves",
                            code="bad_node",
                            seq=subtree.index << subtree.level,
                        )
                    next_node = next(nodes, None)
                if compact.size in wanted:
                    roots[compact.size] = compact.root()
        if next_node is not None:
            raise LogInvalid(
                f"tree node level {next_node[0]} index {next_node[1]} lies beyond the log",
                code="bad_node",
                seq=next_node[1] << next_node[0],
            )
    roots[compact.size] = compact.root()
    return compact.size, roots
