"""The Django side of bench/audit_log.py: seeding, the audited write, the bulk loader and the timed
proof and verification calls. Import it only after ``django.setup()``.

Everything timed here calls the application's own functions; only the bulk loader bypasses
``audit_record`` (it writes the rows ``audit_record`` and ``audit_log_integrate`` would have written,
with COPY, because recording 10^6 entries one by one would take hours).
"""

import contextlib
import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from psycopg2 import errors as pg_errors
from psycopg2.extras import execute_values

from core.canonical import canonical_json
from core.signing import KeyPurpose, service_private_key
from governance.audit import tree
from governance.audit.selectors import audit_export_bundle, inclusion_proof_get
from governance.audit.services import audit_checkpoint_create, audit_log_integrate, audit_record
from governance.audit.verification import LogReport, verify_database_log
from governance.choices import AuditEvent
from governance.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditPending
from hooks import tlog
from hooks.bundle import load_public_key, verify_bundle
from registry.choices import RiskTier
from registry.models import RegisteredModel

SUBJECT_NAME = "bench-audit-model"
AUDITOR_NAME = "bench-auditor"
EVENT = str(AuditEvent.REGISTERED_MODEL_UPDATED)
SUBJECT_TYPE = RegisteredModel._meta.label
LOAD_CHUNK = 50_000
FILLER = "Quarterly recalibration of the probability-of-default curve against the latest data"


def update_payload(writer: int, number: int) -> dict[str, Any]:
    """The ``after`` of one inventory change: about 200 bytes of canonical JSON."""
    return {
        "description": f"{FILLER} (writer {writer}, change {number}).",
        "intended_use": "Retail credit decisions up to 50k EUR",
        "risk_tier": "medium",
        "version": number,
    }


def subject_create() -> RegisteredModel:
    """The registered model every benchmark entry is about (the subject of ``audit_record``)."""
    owner = get_user_model().objects.create_user(username="bench-owner")
    team = Group.objects.create(name="bench-team")
    return RegisteredModel.objects.create(
        name=SUBJECT_NAME, display_name="Benchmark model", owner=owner, team=team, risk_tier=RiskTier.MEDIUM
    )


class _ErrorCounter(logging.Handler):
    """Counts ERROR records: a failing after-commit integration is logged, not raised (robust on_commit)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first:
            self.first = record.getMessage()


@contextmanager
def logged_errors() -> Iterator[_ErrorCounter]:
    counter = _ErrorCounter()
    root = logging.getLogger()
    root.addHandler(counter)
    try:
        yield counter
    finally:
        root.removeHandler(counter)


def audited_write(writer: int, *, standalone: bool = False) -> Callable[[int], None]:
    """One committed audit entry per call, exactly as a service records a change: in its transaction.
    ``standalone``: an entry that records no change of its own (as an export or a verification run
    writes), of the same width: one statement, no transaction around it, as the plain baseline's INSERT."""
    subject = RegisteredModel.objects.get(name=SUBJECT_NAME)
    event = AuditEvent.AUDIT_LOG_VERIFIED if standalone else AuditEvent.REGISTERED_MODEL_UPDATED

    def write(number: int) -> None:
        # Leaving the block (or, standalone, the statement) committed and ran the after-commit integration.
        with contextlib.nullcontext() if standalone else transaction.atomic():
            audit_record(
                actor=None,
                event_type=event,
                subject=subject,
                model_name=subject.name,
                after=update_payload(writer, number),
                standalone=standalone,
            )

    return write


@dataclass(frozen=True)
class LogState:
    entries: int
    leaves: int
    pending: int
    min_seq: int | None
    max_seq: int | None
    checkpoints: int

    @property
    def contiguous(self) -> bool:
        if self.leaves == 0:
            return True
        return self.min_seq == 0 and self.max_seq == self.leaves - 1

    @property
    def consistent(self) -> bool:
        return self.pending == 0 and self.entries == self.leaves and self.contiguous


def entry_count() -> int:
    return AuditEntry.objects.count()


def integrate_and_inspect() -> LogState:
    """Drain the queue as the periodic task would, then state what the log holds."""
    audit_log_integrate(wait=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(seq), max(seq) FROM governance_auditleaf")
        leaves, min_seq, max_seq = cursor.fetchone()
    return LogState(
        entries=AuditEntry.objects.count(),
        leaves=leaves,
        pending=AuditPending.objects.count(),
        min_seq=min_seq,
        max_seq=max_seq,
        checkpoints=AuditCheckpoint.objects.count(),
    )


def database_log_verify() -> tuple[LogReport, float]:
    started = time.perf_counter()
    report = verify_database_log()
    return report, time.perf_counter() - started


# --------------------------------------------------------------------------------------------------
# Bulk load: the rows that audit_record + audit_log_integrate + audit_checkpoint_create would leave.
# --------------------------------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    "id, created_at, actor_id, actor_name, event_type, subject_type, subject_id, subject_repr, model_name, "
    "before, after, request_id, entry_bytes, leaf_hash"
)
_CHECK_EVERY = 997  # every so many generated entries are compared with core.canonical.canonical_json


@dataclass
class LoadedLog:
    entries: list[bytes]  # entry bytes, index = seq
    leaves: list[bytes]  # leaf hashes, index = seq
    nodes: int
    checkpoints: int
    seconds: float
    copy_seconds: float
    notes: list[str]


@dataclass
class _Chunk:
    entries: list[str]
    leaves: list[str]
    nodes: list[str]


def _generated_entry(seq: int, created: datetime) -> tuple[bytes, str, str, str, str]:
    """Entry ``seq`` as ``audit_record`` would serialise it, by string formatting (15x faster than
    json.dumps); returns (entry bytes, time, subject id, after as JSON, request id)."""
    created_text = created.isoformat().replace("+00:00", "Z")
    subject_id = str(seq % 500 + 1)
    request_id = f"bench-{seq:012d}"
    after_text = (
        f'{{"description":"{FILLER} (writer {seq % 8}, change {seq}).",'
        f'"intended_use":"Retail credit decisions up to 50k EUR","risk_tier":"medium","version":{seq}}}'
    )
    entry = (
        f'{{"actor":{{"id":null,"name":"system"}},"after":{after_text},"before":null,"event":"{EVENT}",'
        f'"model":"model-{subject_id}","request_id":"{request_id}",'
        f'"subject":{{"id":"{subject_id}","repr":"model-{subject_id}","type":"{SUBJECT_TYPE}"}},'
        f'"time":"{created_text}","v":1}}'
    ).encode()
    if seq % _CHECK_EVERY == 0:
        document = {
            "v": 1,
            "time": created_text,
            "actor": {"id": None, "name": "system"},
            "event": EVENT,
            "subject": {"type": SUBJECT_TYPE, "id": subject_id, "repr": f"model-{subject_id}"},
            "model": f"model-{subject_id}",
            "before": None,
            "after": update_payload(seq % 8, seq),
            "request_id": request_id,
        }
        if canonical_json(document) != entry or canonical_json(document["after"]).decode() != after_text:
            raise RuntimeError(f"generated entry {seq} is not the canonical JSON audit_record would store")
    return entry, created_text, subject_id, after_text, request_id


def _copy_chunk(cursor: Any, chunk: _Chunk) -> float:
    started = time.perf_counter()
    for target, rows in (
        (f"governance_auditentry ({_ENTRY_COLUMNS})", chunk.entries),
        ("governance_auditleaf (seq, entry_id, leaf_hash)", chunk.leaves),
        ('governance_audittreenode (level, "index", hash)', chunk.nodes),
    ):
        if rows:
            data = io.BytesIO("".join(rows).encode("utf-8"))
            cursor.copy_expert(f"COPY {target} FROM STDIN", data, size=1 << 20)
    return time.perf_counter() - started


def bulk_load(count: int, checkpoint_every: int) -> LoadedLog:
    """Write ``count`` integrated entries, their leaves and tree nodes with COPY, plus a signed
    checkpoint every ``checkpoint_every`` entries (0: none) as the service would have issued them.

    The append-only triggers guard UPDATE, DELETE and TRUNCATE: COPY only inserts, so they stay
    enabled. The load session runs with ``session_replication_role = replica`` (superuser only), which
    skips the per-row foreign-key checks of AuditLeaf.entry; the references are checked afterwards.
    A thread runs the COPY of one chunk while this thread generates the next (2 cores: both busy).
    """
    started = time.perf_counter()
    notes: list[str] = []
    private_key = service_private_key(KeyPurpose.LOG_CHECKPOINT)
    origin, key_name = settings.MODELGOV["LOG_ORIGIN"], settings.MODELGOV["LOG_KEY_NAME"]
    sha256 = hashlib.sha256
    compact = tlog.CompactRange()
    entries: list[bytes] = []
    leaves: list[bytes] = []
    nodes = 0
    copy_seconds = 0.0
    checkpoint_rows: list[tuple[int, bytes, str, datetime]] = []
    base_time = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    database = psycopg2.connect(**connection.get_connection_params())
    try:
        with database.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as copier:
            try:
                cursor.execute("SET session_replication_role = replica")
            except pg_errors.InsufficientPrivilege:
                database.rollback()
                notes.append("not a superuser: foreign keys checked row by row during the load (slower)")
            in_flight: Future[float] | None = None
            for chunk_start in range(0, count, LOAD_CHUNK):
                chunk = _Chunk([], [], [])
                for seq in range(chunk_start, min(count, chunk_start + LOAD_CHUNK)):
                    created = base_time + timedelta(milliseconds=seq)
                    entry, created_text, subject_id, after_text, request_id = _generated_entry(seq, created)
                    leaf = sha256(b"\x00" + entry).digest()
                    entries.append(entry)
                    leaves.append(leaf)
                    leaf_hex = leaf.hex()
                    chunk.entries.append(
                        f"{seq + 1}\t{created_text}\t\\N\tsystem\t{EVENT}\t{SUBJECT_TYPE}\t{subject_id}\t"
                        f"model-{subject_id}\tmodel-{subject_id}\t\\N\t{after_text}\t{request_id}\t"
                        f"\\\\x{entry.hex()}\t\\\\x{leaf_hex}\n"
                    )
                    chunk.leaves.append(f"{seq}\t{seq + 1}\t\\\\x{leaf_hex}\n")
                    for subtree in compact.append(leaf)[1:]:
                        chunk.nodes.append(f"{subtree.level}\t{subtree.index}\t\\\\x{subtree.hash.hex()}\n")
                    size = seq + 1
                    if checkpoint_every and size % checkpoint_every == 0 and size < count:
                        root = compact.root()
                        note = tlog.sign_checkpoint(tlog.Checkpoint(origin, size, root), key_name, private_key)
                        checkpoint_rows.append((size, root, note, created))
                nodes += len(chunk.nodes)
                if in_flight is not None:
                    copy_seconds += in_flight.result()
                in_flight = copier.submit(_copy_chunk, cursor, chunk)
            if in_flight is not None:
                copy_seconds += in_flight.result()
            if checkpoint_rows:
                execute_values(
                    cursor,
                    "INSERT INTO governance_auditcheckpoint (size, root_hash, note, created_at) VALUES %s",
                    checkpoint_rows,
                )
            cursor.execute("SELECT setval(pg_get_serial_sequence('governance_auditentry', 'id'), %s)", [count])
            cursor.execute("SET session_replication_role = origin")
            cursor.execute(
                "SELECT count(*) FROM governance_auditleaf l "
                "LEFT JOIN governance_auditentry e ON e.id = l.entry_id WHERE e.id IS NULL"
            )
            dangling = cursor.fetchone()[0]
            if dangling:
                raise RuntimeError(f"bulk load left {dangling} leaves without their entry")
        database.commit()
        # A log of this size has long been vacuumed: set hint bits and statistics now, not in a timed read.
        database.autocommit = True
        with database.cursor() as cursor:
            for table in ("governance_auditentry", "governance_auditleaf", "governance_audittreenode"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        database.close()
    seconds = time.perf_counter() - started
    return LoadedLog(entries, leaves, nodes, len(checkpoint_rows), seconds, copy_seconds, notes)


def checkpoint_sign() -> tuple[int, float]:
    """Sign a checkpoint of the whole log through the service (consistency-checked against the last)."""
    started = time.perf_counter()
    checkpoint = audit_checkpoint_create()
    return checkpoint.size, time.perf_counter() - started


# --------------------------------------------------------------------------------------------------
# Proofs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofTimes:
    generate_ms: list[float]  # tree.inclusion_proof_and_root (what inclusion_proof_get calls)
    selector_ms: list[float]  # the whole selectors.inclusion_proof_get (info)
    verify_ms: list[float]  # tlog.verify_inclusion


def _auditor() -> Any:
    user_model = get_user_model()
    user = user_model.objects.filter(username=AUDITOR_NAME).first()
    return user or user_model.objects.create_superuser(username=AUDITOR_NAME, email="", password=None)


def proofs_measure(leaves: list[bytes], samples: int, seed: int = 6962) -> ProofTimes:
    """Inclusion proofs of ``samples`` random seqs against the latest checkpoint, each checked."""
    size = tree.tree_size()
    user = _auditor()
    seqs = random.Random(seed).sample(range(size), min(samples, size))
    for seq in seqs[:20]:  # warm-up: connection, query plans, caches
        tree.inclusion_proof_and_root(seq, size)
        inclusion_proof_get(seq=seq, tree_size=None, user=user)
    generate: list[float] = []
    selector: list[float] = []
    verify: list[float] = []
    clock = time.perf_counter_ns
    for seq in seqs:
        t0 = clock()
        proof, root = tree.inclusion_proof_and_root(seq, size)
        t1 = clock()
        served = inclusion_proof_get(seq=seq, tree_size=None, user=user)
        t2 = clock()
        tlog.verify_inclusion(leaves[seq], seq, size, proof, root)
        t3 = clock()
        if served["tree_size"] != size or len(served["proof"]) != len(proof):
            raise RuntimeError(f"inclusion_proof_get disagrees with tree.inclusion_proof_and_root for seq {seq}")
        generate.append((t1 - t0) / 1e6)
        selector.append((t2 - t1) / 1e6)
        verify.append((t3 - t2) / 1e6)
    return ProofTimes(generate, selector, verify)


# --------------------------------------------------------------------------------------------------
# Offline verification of an export bundle
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleTimes:
    export_seconds: float
    dumps_seconds: float
    json_bytes: int
    loads_seconds: float
    verify_seconds: float  # check_json=False: every hash and signature
    verify_json_seconds: float  # the default: the same, and every entry parsed as JSON
    tree_size: int
    checkpoints: int


def bundle_verify() -> BundleTimes:
    """Export the whole log, serialise it, parse it back and verify it offline, without and with the
    JSON check (only the verifications are timed for the ratios; the other steps are reported for
    information)."""
    t0 = time.perf_counter()
    bundle = audit_export_bundle(start=None, end=None)
    t1 = time.perf_counter()
    text = json.dumps(bundle)
    t2 = time.perf_counter()
    del bundle
    loaded = json.loads(text)
    t3 = time.perf_counter()
    json_bytes = len(text)
    del text
    public_key = load_public_key(loaded["public_key_pem"].encode("ascii"))
    t4 = time.perf_counter()
    report = verify_bundle(loaded, public_key, check_json=False)
    t5 = time.perf_counter()
    if verify_bundle(loaded, public_key) != report:
        raise RuntimeError("verify_bundle with the JSON check reports otherwise than without it")
    t6 = time.perf_counter()
    return BundleTimes(t1 - t0, t2 - t1, json_bytes, t3 - t2, t5 - t4, t6 - t5, report.tree_size, report.checkpoints)


def raw_leaf_hashing(entries: list[bytes]) -> float:
    """The floor of any full verification: SHA-256(0x00 || entry) over every entry, already in memory."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for entry in entries:
        sha256(b"\x00" + entry).digest()
    return time.perf_counter() - started


def raw_leaves_and_root(entries: list[bytes]) -> tuple[float, bytes]:
    """Leaf hashes plus the Merkle root (tlog.CompactRange.extend), in memory: for comparison only."""
    sha256 = hashlib.sha256
    started = time.perf_counter()
    compact = tlog.CompactRange()
    compact.extend(sha256(b"\x00" + entry).digest() for entry in entries)
    root = compact.root()
    return time.perf_counter() - started, root


def latest_root() -> tuple[int, bytes]:
    checkpoint = AuditCheckpoint.objects.order_by("-id").first()
    if checkpoint is None:
        raise RuntimeError("no checkpoint")
    return checkpoint.size, bytes(checkpoint.root_hash)


def entry_leaf(seq: int) -> bytes:
    return bytes(AuditLeaf.objects.values_list("leaf_hash", flat=True).get(seq=seq))
