"""Audit-log benchmark: append rate through the real service path, proofs and full verification at 10^6.

One run:

1. resets a dedicated PostgreSQL database (``modelgov_bench_audit``; BENCH_DATABASE_URL overrides),
   migrates it and creates the service keys in a temporary MODELGOV_KEY_DIR; every process of the run
   (manage.py, this one, the writers) gets the same environment;
2. appends: 1 and 8 writer processes, each committing ``audit_record`` in its own transaction, once
   integrating after every commit (no follower: the demo's way) and once with a following integrator
   process (``manage.py integrate_audit_log --follow``, as docs/operations.md prescribes; the writers
   only insert, and the run waits until the follower has integrated everything before it counts), and
   once, with the follower, writing standalone entries (``audit_record(standalone=True)``: one
   statement, no transaction around it, as the baseline's INSERT), against 1 and 8 processes of
   plain autocommit INSERTs of rows of the same width into an unaudited table (the floor's baseline),
   and of the same INSERT each in a transaction of its own (the round trips every service write has;
   info), in interleaved rounds; medians;
3. resets the database again, bulk-loads 10^6 integrated entries with COPY (leaves, tree nodes and a
   checkpoint every CHECKPOINT_EVERY_ENTRIES, as the service would have left them), signs a checkpoint
   with ``audit_checkpoint_create`` and times inclusion proofs (generate and verify) of random seqs;
4. times full verification of those 10^6 entries: (a) the database verifier, (b) the offline verifier
   of an export bundle, (c) raw hashlib leaf hashing of the same entry bytes in memory;
5. prints a summary table against the floors.

    .venv/bin/python bench/audit_log.py                # full run (about 6 to 10 minutes on 2 cores)
    .venv/bin/python bench/audit_log.py --quick        # smoke run: 20k entries, short rounds
    .venv/bin/python bench/audit_log.py --entries 200000

Exit status: 0 after a measurement (even below a floor), 1 on any error or failed consistency check.
"""

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg2

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable here and in the writers
    sys.path.insert(0, str(REPO_ROOT))

from bench._report import Figure  # noqa: E402
from bench._report import summary as report_summary  # noqa: E402
from bench.api_read import BenchError, child_environment, manage, reset_database  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/modelgov_bench_audit"
SETTINGS_MODULE = "config.settings.base"

WRITER_COUNTS = (1, 8)
# plain: autocommit INSERTs (the floor's baseline); plain_tx: the same INSERT in a transaction of its
# own; audited: audit_record, each writer integrating after its commit; followed: audit_record with a
# following integrator process (writers only insert); standalone: audit_record(standalone=True), an
# entry that records no change of its own, one autocommit statement like the baseline's, with the follower.
APPEND_KINDS = ("plain", "plain_tx", "audited", "followed", "standalone")
FOLLOWED_KINDS = ("followed", "standalone")
ROUNDS = 3
SECONDS = 10.0
WARMUP_WRITES = 20
START_TIMEOUT_SECONDS = 180.0
PROOF_SAMPLES = 500
RAW_REPEATS = 3

FLOOR_APPEND_RATIO = 0.5  # audited/plain with 8 writers, at least
FLOOR_PROOF_GENERATE_MS = 5.0  # below
FLOOR_PROOF_VERIFY_MS = 1.0  # below
FLOOR_VERIFY_RATIO = 3.0  # full verification / raw hashlib, at most

PLAIN_TABLE_SQL = """
CREATE TABLE bench_plain (LIKE governance_auditentry INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS);
ALTER TABLE bench_plain ADD PRIMARY KEY (id);
"""
PLAIN_INSERT_SQL = """
INSERT INTO bench_plain (created_at, actor_id, actor_name, event_type, subject_type, subject_id, subject_repr,
                         model_name, before, after, request_id, entry_bytes, leaf_hash)
VALUES (%s, NULL, 'system', 'REGISTERED_MODEL_UPDATED', 'registry.RegisteredModel', '1', 'bench-audit-model',
        'bench-audit-model', NULL, %s, '', %s, %s)
"""
FILLER = "Quarterly recalibration of the probability-of-default curve against the latest data"


# --------------------------------------------------------------------------------------------------
# Writer processes (spawned: each one imports this file afresh and, for the audited kind, sets Django up)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriterCounts:
    timed: int = 0  # commits that finished inside the timed window
    total: int = 0  # every commit, warm-up and the one that crossed the deadline included
    logged_errors: int = 0  # ERROR log records (a failed after-commit integration is logged, not raised)
    error: str = ""


def timed_loop(write: Callable[[int], None], seconds: float, warmup: int, barrier: Barrier) -> tuple[int, int]:
    """Warm up, wait for every writer, then commit until the deadline; returns (timed, total)."""
    for number in range(warmup):
        write(number)
    barrier.wait(timeout=START_TIMEOUT_SECONDS)
    deadline = time.perf_counter() + seconds
    number, timed = warmup, 0
    while True:
        write(number)
        number += 1
        if time.perf_counter() > deadline:
            return timed, number
        timed += 1


def _plain_row(writer: int, number: int) -> tuple[datetime, str, bytes, bytes]:
    """A row as wide as an audit entry: ~220 bytes of ``after`` JSON, ~600 entry bytes, a 32-byte hash."""
    after = json.dumps(
        {
            "description": f"{FILLER} (writer {writer}, change {number}).",
            "intended_use": "Retail credit decisions up to 50k EUR",
            "risk_tier": "medium",
            "version": number,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    now = datetime.now(UTC)
    entry = (
        f'{{"actor":{{"id":null,"name":"system"}},"after":{after},"before":null,'
        f'"event":"REGISTERED_MODEL_UPDATED","model":"bench-audit-model","request_id":"",'
        f'"subject":{{"id":"1","repr":"bench-audit-model","type":"registry.RegisteredModel"}},'
        f'"time":"{now.isoformat()}","v":1}}'
    ).encode()
    return now, after, entry, hashlib.sha256(b"\x00" + entry).digest()


def plain_writer_process(
    writer: int,
    database_url: str,
    seconds: float,
    warmup: int,
    barrier: Barrier,
    results: "Queue[WriterCounts]",
    in_transaction: bool = False,
) -> None:
    try:
        database = psycopg2.connect(database_url)
        # Autocommit: one INSERT, one round trip. In a transaction: BEGIN, INSERT, COMMIT, as every
        # service write (and so every audited one) goes to the server.
        database.autocommit = not in_transaction
        cursor = database.cursor()

        def write(number: int) -> None:
            cursor.execute(PLAIN_INSERT_SQL, _plain_row(writer, number))
            if in_transaction:
                database.commit()

        timed, total = timed_loop(write, seconds, warmup, barrier)
        database.close()
        results.put(WriterCounts(timed=timed, total=total))
    except BaseException as exc:  # report, never hang the others at the barrier
        barrier.abort()
        results.put(WriterCounts(error=f"plain writer {writer}: {type(exc).__name__}: {exc}"))


def audited_writer_process(
    writer: int, seconds: float, warmup: int, barrier: Barrier, results: "Queue[WriterCounts]", standalone: bool
) -> None:
    try:
        import django

        django.setup()
        from bench import _audit_support as support

        with support.logged_errors() as errors:
            timed, total = timed_loop(support.audited_write(writer, standalone=standalone), seconds, warmup, barrier)
        results.put(WriterCounts(timed=timed, total=total, logged_errors=errors.count, error=errors.first))
    except BaseException as exc:
        barrier.abort()
        results.put(WriterCounts(error=f"audited writer {writer}: {type(exc).__name__}: {exc}"))


# --------------------------------------------------------------------------------------------------
# Appends
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppendRun:
    kind: str
    writers: int
    timed: int
    total: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.timed / self.seconds


def run_writers(kind: str, writers: int, seconds: float, warmup: int, database_url: str) -> list[WriterCounts]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers + 1)
    results: Queue[WriterCounts] = context.Queue()
    processes = []
    for writer in range(writers):
        if kind in ("plain", "plain_tx"):
            args: tuple[Any, ...] = (writer, database_url, seconds, warmup, barrier, results, kind == "plain_tx")
            processes.append(context.Process(target=plain_writer_process, args=args))
        else:
            args = (writer, seconds, warmup, barrier, results, kind == "standalone")
            processes.append(context.Process(target=audited_writer_process, args=args))
    for process in processes:
        process.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a writer failed to start: its error is queued
        barrier.wait(timeout=START_TIMEOUT_SECONDS)
    counts = [results.get(timeout=START_TIMEOUT_SECONDS + seconds) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    failures = [count.error for count in counts if count.error and not count.logged_errors]
    logged = [count for count in counts if count.logged_errors]
    if failures:
        raise BenchError("; ".join(failures))
    if logged:
        raise BenchError(
            f"{sum(count.logged_errors for count in logged)} errors were logged by {kind} writers, "
            f"first: {logged[0].error}"
        )
    return counts


def plain_rows(database_url: str) -> int:
    with psycopg2.connect(database_url) as database, database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_plain")
        (rows,) = cursor.fetchone()
    database.close()
    return int(rows)


@contextlib.contextmanager
def follower() -> Iterator[None]:
    """``manage.py integrate_audit_log --follow`` in a process of its own (on the same two cores as the
    writers, so its work is in the figures), started before the writers look for it."""
    command = [sys.executable, "manage.py", "integrate_audit_log", "--follow"]  # the default interval
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first.startswith("following"):
            raise BenchError(f"the follower did not start: {first}{process.stdout.read()}")
        time.sleep(0.5)  # its lock is taken right after it says so
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=60) != 0:
            raise BenchError(f"the follower failed: {process.stdout.read() if process.stdout else ''}")


def pending_drained(timeout: float = 120.0) -> tuple[int, float]:
    """(entries pending when the writers stopped, seconds until the follower had integrated them)."""
    from governance.models import AuditPending

    started = time.perf_counter()
    left = AuditPending.objects.count()
    pending = left
    while left:
        if time.perf_counter() - started > timeout:
            raise BenchError(f"the follower did not drain the queue in {timeout:g} s: {left} entries pending")
        time.sleep(0.01)
        left = AuditPending.objects.count()
    return pending, time.perf_counter() - started


def measure_appends(database_url: str, rounds: int, seconds: float, warmup: int) -> list[AppendRun]:
    from bench import _audit_support as support

    def rows(kind: str) -> int:
        return plain_rows(database_url) if kind.startswith("plain") else support.entry_count()

    runs: list[AppendRun] = []
    for round_number in range(1, rounds + 1):
        # Rotate which kind goes first so that drift of the machine hits every kind alike.
        shift = (round_number - 1) % len(APPEND_KINDS)
        kinds = APPEND_KINDS[shift:] + APPEND_KINDS[:shift]
        for writers in WRITER_COUNTS:
            for kind in kinds:
                before = rows(kind)
                with follower() if kind in FOLLOWED_KINDS else contextlib.nullcontext():
                    counts = run_writers(kind, writers, seconds, warmup, database_url)
                    drain = pending_drained() if kind in FOLLOWED_KINDS else None
                written = rows(kind) - before
                total = sum(count.total for count in counts)
                if written != total:
                    raise BenchError(f"{kind} x{writers}: writers reported {total} commits, the table gained {written}")
                run = AppendRun(kind, writers, sum(count.timed for count in counts), total, seconds)
                runs.append(run)
                lag = f"; {drain[0]} pending at the end, integrated {drain[1] * 1e3:.0f} ms later" if drain else ""
                print(
                    f"  round {round_number} {kind:>10} x{writers}: {run.rate:8.1f} appends/s "
                    f"({run.timed} in {seconds:g} s; {run.total} committed incl. warm-up{lag})",
                    flush=True,
                )
    return runs


def append_median(runs: list[AppendRun], kind: str, writers: int) -> float:
    return statistics.median(run.rate for run in runs if run.kind == kind and run.writers == writers)


# --------------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------------


def database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[-1].split("?", 1)[0]


def fresh_database(env: Mapping[str, str], database_url: str) -> None:
    from django.db import connections

    connections.close_all()  # this process's persistent connection would block nothing but would break
    reset_database(database_url)
    manage(env, "migrate", "--noinput")


def server_settings(database_url: str) -> str:
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers", "max_wal_size")
    with psycopg2.connect(database_url) as database, database.cursor() as cursor:
        values = []
        for name in names:
            cursor.execute("SELECT current_setting(%s)", [name])
            values.append(f"{name}={cursor.fetchone()[0]}")
    database.close()
    return " ".join(values)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def summary(figures: list[Figure]) -> None:
    report_summary(figures, label_width=62, unit_width=9, decimals=3)


def ms(values: list[float], pct: int) -> float:
    """The median (pct 50) or another percentile of a list of timings."""
    if pct == 50:
        return statistics.median(values)
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=None, help="size of the bulk-loaded log (default 1000000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20000 entries, 2 s rounds, 200 proofs")
    parser.add_argument("--seconds", type=float, default=None, help=f"length of one append run (default {SECONDS:g})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"interleaved append rounds (default {ROUNDS})")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="bulk load: a signed checkpoint every N entries (default: CHECKPOINT_EVERY_ENTRIES; 0: only the last)",
    )
    args = parser.parse_args()
    args.entries = args.entries or (20_000 if args.quick else 1_000_000)
    args.seconds = args.seconds or (2.0 if args.quick else SECONDS)
    args.samples = 200 if args.quick else PROOF_SAMPLES
    if args.entries < 2 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--entries must be at least 2, --rounds at least 1 and --seconds positive")
    return args


def run(args: argparse.Namespace, database_url: str, key_dir: str) -> list[Figure]:
    env = child_environment(database_url)
    env["MODELGOV_KEY_DIR"] = key_dir
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ.update(env)  # the same environment for manage.py, this process and every writer

    run_started = time.perf_counter()
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, loadavg {load1:.2f} {load5:.2f}; python {sys.version.split()[0]}")
    print(f"database: {database_name(database_url)} (reset, migrate, init_keys)", flush=True)
    reset_database(database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "init_keys")
    print(f"postgres: {server_settings(database_url)}", flush=True)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from bench import _audit_support as support

    support.subject_create()
    with connection.cursor() as cursor:
        cursor.execute(PLAIN_TABLE_SQL)

    # ---- 2. appends ------------------------------------------------------------------------------
    print()
    print(
        f"APPENDS: audited = transaction.atomic() + audit_record per entry, then the writer integrates after "
        f"its commit; followed = the same writes while `manage.py integrate_audit_log --follow` integrates; "
        f"standalone = audit_record(standalone=True) per entry, no transaction around it (one statement), "
        f"with the follower; "
        f"plain = one autocommit INSERT into bench_plain (same columns, primary key only); "
        f"plain_tx = that INSERT in a transaction of its own (BEGIN, INSERT, COMMIT). "
        f"{args.rounds} interleaved rounds x {args.seconds:g} s per run, {WARMUP_WRITES} warm-up writes per process",
        flush=True,
    )
    runs = measure_appends(database_url, args.rounds, args.seconds, WARMUP_WRITES)
    state = support.integrate_and_inspect()
    print(
        f"  after the appends: {state.entries} entries, {state.leaves} leaves (seq {state.min_seq}..{state.max_seq}), "
        f"{state.pending} pending, {state.checkpoints} checkpoints signed by the service",
        flush=True,
    )
    if not state.consistent:
        raise BenchError(f"the appended log is not consistent: {state}")
    small_report, small_seconds = support.database_log_verify()
    print(f"  verify_database_log on it: size {small_report.size}, {small_seconds:.2f} s", flush=True)

    figures: list[Figure] = []
    for writers in WRITER_COUNTS:
        plain = append_median(runs, "plain", writers)
        plain_tx = append_median(runs, "plain_tx", writers)
        figures += [
            Figure(f"appends/s plain INSERT (baseline), {writers} writer(s), median", plain, "1/s"),
            Figure(f"appends/s plain INSERT in a transaction, {writers} writer(s), median", plain_tx, "1/s"),
        ]
        for kind, label in (
            ("audited", "integrating after commit"),
            ("followed", "with a follower"),
            ("standalone", "standalone, with a follower"),
        ):
            audited = append_median(runs, kind, writers)
            ratio = audited / plain if plain else 0.0
            # The floor is read on the configuration docs/operations.md prescribes (with a follower), twice:
            # an entry written in its change's transaction, and one written on its own as the baseline's row is.
            floor = writers == max(WRITER_COUNTS) and kind in FOLLOWED_KINDS
            figures += [
                Figure(f"appends/s audit_record {label}, {writers} writer(s), median", audited, "1/s"),
                Figure(
                    f"ratio audited ({kind})/plain, {writers} writer(s)",
                    ratio,
                    "x",
                    f">= {FLOOR_APPEND_RATIO:.2f}" if floor else "",
                    ratio >= FLOOR_APPEND_RATIO if floor else None,
                ),
                # What the log adds to a write that is a transaction anyway (info, not the floor).
                Figure(
                    f"ratio audited ({kind})/plain in a transaction, {writers} writer(s)",
                    audited / plain_tx if plain_tx else 0.0,
                    "x",
                ),
            ]

    # ---- 3. bulk load, checkpoint, proofs ---------------------------------------------------------
    print()
    checkpoint_every = (
        settings.MODELGOV["CHECKPOINT_EVERY_ENTRIES"] if args.checkpoint_every is None else args.checkpoint_every
    )
    print(
        f"BULK LOAD: fresh database, {args.entries:,} entries by COPY (entries, leaves, tree nodes), "
        f"a signed checkpoint every {checkpoint_every or 'never'} entries",
        flush=True,
    )
    fresh_database(env, database_url)
    loaded = support.bulk_load(args.entries, checkpoint_every)
    for note in loaded.notes:
        print(f"  note: {note}")
    size, checkpoint_seconds = support.checkpoint_sign()
    if size != args.entries:
        raise BenchError(f"audit_checkpoint_create signed size {size}, expected {args.entries}")
    entry_bytes = sum(len(entry) for entry in loaded.entries)
    print(
        f"  loaded {args.entries:,} entries ({entry_bytes / len(loaded.entries):.0f} bytes on average), "
        f"{loaded.nodes:,} tree nodes, {loaded.checkpoints} checkpoints in {loaded.seconds:.1f} s "
        f"(incl. VACUUM ANALYZE); audit_checkpoint_create() at size {size}: {checkpoint_seconds * 1e3:.1f} ms",
        flush=True,
    )

    print()
    print(f"PROOFS: {args.samples} random seqs, inclusion proof against the checkpoint of size {size}", flush=True)
    proofs = support.proofs_measure(loaded.leaves, args.samples)
    for label, values, floor_ms in (
        ("inclusion proof generate: tree.inclusion_proof_and_root", proofs.generate_ms, FLOOR_PROOF_GENERATE_MS),
        ("inclusion proof verify: tlog.verify_inclusion", proofs.verify_ms, FLOOR_PROOF_VERIFY_MS),
    ):
        for pct in (50, 99):
            value = ms(values, pct)
            figures.append(Figure(f"{label}, p{pct}", value, "ms", f"< {floor_ms:g} ms", value < floor_ms))
    for pct in (50, 99):
        label = f"inclusion_proof_get (whole selector, for info), p{pct}"
        figures.append(Figure(label, ms(proofs.selector_ms, pct), "ms"))
    print(
        f"  generate median {ms(proofs.generate_ms, 50):.3f} ms p99 {ms(proofs.generate_ms, 99):.3f} ms; "
        f"verify median {ms(proofs.verify_ms, 50):.4f} ms p99 {ms(proofs.verify_ms, 99):.4f} ms; "
        f"whole selector median {ms(proofs.selector_ms, 50):.3f} ms p99 {ms(proofs.selector_ms, 99):.3f} ms",
        flush=True,
    )

    # ---- 4. full verification ---------------------------------------------------------------------
    print()
    print(f"FULL VERIFICATION of {size:,} entries", flush=True)
    report, database_seconds = support.database_log_verify()
    if report.size != size or report.pending:
        raise BenchError(f"verify_database_log: size {report.size}, pending {report.pending}; expected {size}, 0")
    print(
        f"  (a) DB verifier, governance.audit.verification.verify_database_log(): {database_seconds:.2f} s "
        f"({report.checkpoints} checkpoints checked)",
        flush=True,
    )
    bundle = support.bundle_verify()
    if bundle.tree_size != size:
        raise BenchError(f"verify_bundle checked a tree of size {bundle.tree_size}, expected {size}")
    print(
        f"  (b) offline verifier, hooks.bundle.verify_bundle(check_json=False) on the parsed bundle: "
        f"{bundle.verify_seconds:.2f} s ({bundle.checkpoints} checkpoints); with the JSON check (the default): "
        f"{bundle.verify_json_seconds:.2f} s; not timed in (b): audit_export_bundle {bundle.export_seconds:.2f} s, "
        f"json.dumps {bundle.dumps_seconds:.2f} s ({bundle.json_bytes / 1e6:.0f} MB), "
        f"json.loads {bundle.loads_seconds:.2f} s",
        flush=True,
    )
    raw_seconds = statistics.median(support.raw_leaf_hashing(loaded.entries) for _ in range(RAW_REPEATS))
    print(
        f"  (c) baseline, raw hashlib sha256(b'\\x00' + entry) over the {size:,} entry byte strings in memory "
        f"(median of {RAW_REPEATS}): {raw_seconds:.2f} s",
        flush=True,
    )
    tree_seconds, root = support.raw_leaves_and_root(loaded.entries)
    if root != support.latest_root()[1]:
        raise BenchError("the in-memory root differs from the signed checkpoint's root")
    print(f"  (info) leaf hashes + Merkle root in memory (CompactRange.extend): {tree_seconds:.2f} s", flush=True)
    figures += [
        Figure("(a) DB verifier verify_database_log", database_seconds, "s"),
        Figure("(b) offline verify_bundle, check_json=False (after json.loads)", bundle.verify_seconds, "s"),
        Figure("(b') offline verify_bundle with the JSON check (default)", bundle.verify_json_seconds, "s"),
        Figure("(c) raw hashlib leaf hashing, in memory", raw_seconds, "s"),
    ]
    for label, seconds in (
        ("ratio (a)/(c)", database_seconds),
        ("ratio (b)/(c)", bundle.verify_seconds),
        ("ratio (b')/(c)", bundle.verify_json_seconds),
    ):
        ratio = seconds / raw_seconds
        figures.append(Figure(label, ratio, "x", f"<= {FLOOR_VERIFY_RATIO:g}", ratio <= FLOOR_VERIFY_RATIO))
    load1, load5, _ = os.getloadavg()
    print(f"\nwhole run: {time.perf_counter() - run_started:.0f} s; loadavg at the end {load1:.2f} {load5:.2f}")
    return figures


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    if "bench" not in database_name(database_url):
        print("bench failed: the database is reset on every run: its name must contain 'bench'", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="modelgov-bench-keys-") as key_dir:
            figures = run(args, database_url, key_dir)
    except (BenchError, psycopg2.Error) as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    summary(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
