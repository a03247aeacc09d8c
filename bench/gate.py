"""Gate benchmark: full promotion-gate decisions over a 10,000-version inventory against a bare endpoint.

One run:

1. resets a dedicated PostgreSQL database (``modelgov_bench_gate``; BENCH_DATABASE_URL overrides), migrates
   it and creates the service keys in a temporary MODELGOV_KEY_DIR (``manage.py init_keys``); this process,
   manage.py and gunicorn get the same environment;
2. loads 1,000 models x 10 producer-signed versions (bench/_gate_support.py: the first model of every
   team and its versions through the services, the rest bulk-inserted as the same rows, checked byte for
   byte against the services) and approves the latest version of 100 low-risk models for production
   through the approval services;
3. serves bench.settings with gunicorn (2 sync workers, bench/api_read.py) and loads, with 16 clients,
   (a) ``POST /api/v1/gate/promotions`` with a CI service account's token (a member of every team),
   half about approved versions (allow), half about unapproved ones (deny), all ``dry_run: true``, and
   (b) ``GET /bench/bare``, in interleaved rounds bounded by time and by a request count; medians;
4. prints gate decisions/s, p50/p99, errors, the baseline's req/s, the ratio and the floors
   (p99 <= 100 ms, ratio >= 0.40), then checks that the inventory is unchanged;
5. below a floor (or with --profile): samples what the workers' database sessions wait on during an extra
   gate run, and profiles gate requests in this process (queries by call site, commits, cProfile).

    .venv/bin/python bench/gate.py              # full run, about 5 to 8 minutes on 2 busy cores
    .venv/bin/python bench/gate.py --quick      # smoke run: 50 models, short rounds

Exit status: 0 after a measurement (even below a floor), 1 on any non-200 response or failed setup/check.
"""

import argparse
import dataclasses
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO_ROOT))

from bench.api_read import (  # noqa: E402
    CLIENTS,
    DURATION_SECONDS,
    MAX_REQUESTS_PER_RUN,
    ROUNDS,
    WARMUP_SECONDS,
    WORKERS,
    WRK_RESULT,
    WRK_SCRIPT,
    BenchError,
    RunResult,
    _database_name,
    _log_tail,
    child_environment,
    choose_generator,
    free_port,
    manage,
    reset_database,
    run_clients,
    start_gunicorn,
    stop_gunicorn,
    wait_healthy,
    wrk_command,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/modelgov_bench_gate"
SETTINGS_MODULE = "bench.settings"  # what gunicorn serves (api_read.start_gunicorn), and this process too
GATE_PATH = "/api/v1/gate/promotions"
BARE_PATH = "/bench/bare"

FLOOR_P99_MS = 100.0
FLOOR_RATIO = 0.40
GATE_MAX_REQUESTS_PER_RUN = 5_000  # each gate call writes a decision and an audit entry: bound them
BODIES = 2_000
DIAGNOSTIC_SECONDS = 5.0
SAMPLE_INTERVAL_SECONDS = 0.02
PROFILE_REQUESTS = 20
SETTLE_TIMEOUT_SECONDS = 120

# Appended to api_read.WRK_SCRIPT: a list of prepared requests (POST bodies read from a file), a request
# cap per run (the thread stops itself), the allow/deny count, and the active window measured with
# LuaJIT's clock (wrk's own duration stays the full -d even when the cap stops the run early).
WRK_GATE_SCRIPT = """
local ffi_ok, ffi = pcall(require, "ffi")
local clock = nil
if ffi_ok then
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  clock = function()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
  end
end

local gate_threads = {}
local base_setup, base_init, base_response, base_done = setup, init, response, done

function setup(thread)
  base_setup(thread)
  table.insert(gate_threads, thread)
end

function init(args)
  base_init(args)
  cap = tonumber(args[1]) or 0
  prepared = {}
  if args[3] and args[3] ~= "" then
    for line in io.lines(args[3]) do
      table.insert(prepared, wrk.format(args[2], nil, nil, line))
    end
  else
    table.insert(prepared, wrk.format())
  end
  next_request, responses, allow, deny, first_us, last_us = 1, 0, 0, 0, 0, 0
end

function request()
  if first_us == 0 and clock then first_us = clock() end
  local prepared_request = prepared[next_request]
  next_request = next_request % #prepared + 1
  return prepared_request
end

function response(status, headers, body)
  base_response(status, headers, body)
  responses = responses + 1
  if clock then last_us = clock() end
  if body then
    if string.find(body, '"decision":"allow"', 1, true) then
      allow = allow + 1
    elseif string.find(body, '"decision":"deny"', 1, true) then
      deny = deny + 1
    end
  end
  if cap > 0 and responses >= cap then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local first, last, allowed, denied = 0, 0, 0, 0
  for _, thread in ipairs(gate_threads) do
    local started = thread:get("first_us")
    if started > 0 and (first == 0 or started < first) then first = started end
    local ended = thread:get("last_us")
    if ended > last then last = ended end
    allowed = allowed + thread:get("allow")
    denied = denied + thread:get("deny")
  end
  io.write(string.format("BENCH_GATE active_us=%d allow=%d deny=%d\\n", last - first, allowed, denied))
end
"""
WRK_GATE_RESULT = re.compile(r"BENCH_GATE active_us=(-?\d+) allow=(\d+) deny=(\d+)")


@dataclass(frozen=True)
class LoadTarget:
    label: str
    method: str
    path: str
    headers: Mapping[str, str]
    bodies: Sequence[str]  # empty for a GET
    bodies_path: Path | None
    cap: int  # requests per run, at most
    count_sql: str = ""  # counts the requests the server handled (rows they wrote), for CPU per request


@dataclass(frozen=True)
class Run:
    result: RunResult
    allow: int
    deny: int
    capped: bool
    app_cpu_seconds: float = 0.0  # gunicorn workers (user + system), from the start of the run until drained
    db_cpu_seconds: float = 0.0  # their PostgreSQL backends, same window
    handled: int = 0  # requests the server handled in that window (answered, or left queued by wrk and drained)

    def cpu_ms(self, seconds: float) -> float:
        return seconds / self.handled * 1e3 if self.handled else 0.0

    @property
    def app_cpu_ms(self) -> float:
        return self.cpu_ms(self.app_cpu_seconds)

    @property
    def db_cpu_ms(self) -> float:
        return self.cpu_ms(self.db_cpu_seconds)


# --------------------------------------------------------------------------------------------------
# CPU per request: robust on a shared machine, where throughput and latency follow the neighbours
# --------------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BACKENDS_SQL = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def child_pids(parent: int) -> list[int]:
    try:
        return [int(pid) for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
    except OSError:
        return []


class CpuMeter:
    """CPU time of the gunicorn workers and of their database sessions, read from /proc."""

    def __init__(self, master_pid: int, database_url: str) -> None:
        self.master_pid = master_pid
        self.database = psycopg2.connect(database_url)
        self.database.autocommit = True

    def snapshot(self) -> tuple[dict[int, float], dict[int, float]]:
        with self.database.cursor() as cursor:
            cursor.execute(BACKENDS_SQL)
            backends = [row[0] for row in cursor.fetchall()]

        def read(pids: list[int]) -> dict[int, float]:
            return {pid: cpu for pid in pids if (cpu := process_cpu_seconds(pid)) is not None}

        return read(child_pids(self.master_pid)), read(backends)

    @staticmethod
    def used(
        before: tuple[dict[int, float], dict[int, float]], after: tuple[dict[int, float], dict[int, float]]
    ) -> tuple[float, float]:
        app, db = (
            sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items()) for then, now in zip(before, after, strict=True)
        )
        return app, db

    def count(self, sql: str) -> int:
        with self.database.cursor() as cursor:
            cursor.execute(sql)
            return int(cursor.fetchone()[0])

    def close(self) -> None:
        self.database.close()


# --------------------------------------------------------------------------------------------------
# Load generators: wrk (preferred, as in api_read.py) or Python threads
# --------------------------------------------------------------------------------------------------


def run_wrk(port: int, target: LoadTarget, seconds: float, script_path: Path) -> Run:
    script_args = [str(target.cap), target.method]
    if target.bodies_path is not None:
        script_args.append(str(target.bodies_path))
    command = wrk_command(port, target.path, target.headers, seconds, script_path, *script_args)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    match, gate_match = WRK_RESULT.search(completed.stdout), WRK_GATE_RESULT.search(completed.stdout)
    if completed.returncode != 0 or match is None or gate_match is None:
        raise BenchError(f"wrk failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    requests, duration_us, size, p50_us, p99_us, non200, socket_errors = map(int, match.groups())
    active_us, allow, deny = map(int, gate_match.groups())
    elapsed_us = active_us if active_us > 0 else duration_us  # no LuaJIT clock: wrk's duration
    result = RunResult(
        requests=requests,
        seconds=elapsed_us / 1e6,
        p50_ms=p50_us / 1e3,
        p99_ms=p99_us / 1e3,
        errors=non200 + socket_errors,
        bytes_per_response=size / requests if requests else 0.0,
    )
    return Run(result, allow, deny, capped=requests >= target.cap)


def run_python(port: int, target: LoadTarget, seconds: float) -> Run:
    """One thread and one http.client connection per client; stops at the deadline or the request cap."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors, sizes, allow, deny = [0] * CLIENTS, [0] * CLIENTS, [0] * CLIENTS, [0] * CLIENTS
    tickets = iter(range(target.cap))  # next() on a range iterator is atomic under the GIL
    bodies = [body.encode() for body in target.bodies] or [b""]
    headers = dict(target.headers)
    if target.bodies:
        headers["Content-Type"] = "application/json"
    start = time.perf_counter()
    deadline = start + seconds

    def client(index: int) -> None:
        own = latencies[index]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for ticket in tickets:
                if time.perf_counter() >= deadline:
                    break
                body = bodies[ticket % len(bodies)] if target.bodies else None
                sent = time.perf_counter()
                try:
                    connection.request(target.method, target.path, body=body, headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    connection.close()
                    continue
                own.append(time.perf_counter() - sent)
                sizes[index] += len(payload)
                if response.status != 200:
                    errors[index] += 1
                allow[index] += b'"decision":"allow"' in payload
                deny[index] += b'"decision":"deny"' in payload
        finally:
            connection.close()

    result = run_clients(client, start, target.label, seconds, latencies, errors, sizes)
    return Run(result, sum(allow), sum(deny), capped=result.requests >= target.cap)


def settle(port: int) -> None:
    """Wait until the workers have drained what the load left queued.

    wrk closes its connections at the deadline, but gunicorn's sync workers still handle the requests
    already sent (up to 16 gate calls): without this, the next run would start behind them."""
    for _ in range(WORKERS):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SETTLE_TIMEOUT_SECONDS)
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
        finally:
            connection.close()


class LoadGenerator:
    def __init__(self, port: int, workdir: Path, name: str, meter: CpuMeter) -> None:
        self.port = port
        self.name = name
        self.meter = meter
        self.script_path = workdir / "gate.lua"
        self.script_path.write_text(WRK_SCRIPT + WRK_GATE_SCRIPT)

    def run(self, target: LoadTarget, seconds: float) -> Run:
        before, counted = self.meter.snapshot(), self.meter.count(target.count_sql) if target.count_sql else 0
        if self.name == "wrk":
            run = run_wrk(self.port, target, seconds, self.script_path)
        else:
            run = run_python(self.port, target, seconds)
        settle(self.port)
        app, db = self.meter.used(before, self.meter.snapshot())
        # The baseline writes nothing to count: its few drained requests (<= 16 of thousands) are ignored.
        handled = self.meter.count(target.count_sql) - counted if target.count_sql else run.result.requests
        return dataclasses.replace(run, app_cpu_seconds=app, db_cpu_seconds=db, handled=handled)


def request_once(port: int, target: LoadTarget, body: str | None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(target.headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(target.method, target.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def preflight(port: int, gate: LoadTarget, bare: LoadTarget, allow_body: str, deny_body: str) -> None:
    """One call each: a wrong token, a missing row or a wrong expectation fails here, not as errors."""
    for body, expected in ((allow_body, "allow"), (deny_body, "deny")):
        status, payload = request_once(port, gate, body)
        if status != 200:
            raise BenchError(f"gate answered {status}: {payload[:300]!r}")
        decision = json.loads(payload)
        if decision["decision"] != expected:
            failed = [check["name"] for check in decision["checks"] if check["outcome"] != "pass"]
            raise BenchError(f"gate answered {decision['decision']} (failed: {failed}), expected {expected}")
    status, payload = request_once(port, bare, None)
    if status != 200:
        raise BenchError(f"{BARE_PATH} answered {status}: {payload[:300]!r}")


# --------------------------------------------------------------------------------------------------
# Measurement and report
# --------------------------------------------------------------------------------------------------


def measure(
    generator: LoadGenerator, targets: list[LoadTarget], rounds: int, seconds: float, warmup: float
) -> dict[str, list[Run]]:
    """Warm each target up, then interleave the rounds (A, B, A, B, ...) so drift hits both alike."""
    for target in targets:
        generator.run(target, warmup)
    runs: dict[str, list[Run]] = {target.label: [] for target in targets}
    for round_number in range(1, rounds + 1):
        for target in targets:
            run = generator.run(target, seconds)
            runs[target.label].append(run)
            result = run.result
            decisions = f", {run.allow} allow / {run.deny} deny" if run.allow or run.deny else ""
            print(
                f"  round {round_number} {target.label:<8} {result.requests_per_second:8.1f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                f"cpu/request app {run.app_cpu_ms:6.2f} ms db {run.db_cpu_ms:5.2f} ms (of {run.handled})  "
                f"({result.requests} requests in {result.seconds:.2f} s{decisions}"
                f"{', request cap reached' if run.capped else ''}; errors {result.errors})",
                flush=True,
            )
    return runs


@dataclass(frozen=True)
class Summary:
    gate_rps: float
    gate_p50: float
    gate_p99: float
    bare_rps: float
    bare_p50: float
    bare_p99: float
    errors: int
    allow: int
    deny: int
    gate_cpu_ms: tuple[float, float]  # (app, db) CPU per request, medians
    bare_cpu_ms: tuple[float, float]

    @property
    def cpu_ratio(self) -> float:
        """What the throughput ratio would be if CPU were the only limit (an idle machine, 2 cores)."""
        gate = sum(self.gate_cpu_ms)
        return sum(self.bare_cpu_ms) / gate if gate else 0.0

    @property
    def ratio(self) -> float:
        return self.gate_rps / self.bare_rps if self.bare_rps else 0.0

    @property
    def p99_ok(self) -> bool:
        return self.gate_p99 <= FLOOR_P99_MS

    @property
    def ratio_ok(self) -> bool:
        return self.ratio >= FLOOR_RATIO


def summarise(runs: dict[str, list[Run]]) -> Summary:
    def median(label: str, name: str) -> float:
        return statistics.median(getattr(run.result, name) for run in runs[label])

    def cpu(label: str, name: str) -> float:
        return statistics.median(getattr(run, name) for run in runs[label])

    return Summary(
        gate_rps=median("gate", "requests_per_second"),
        gate_p50=median("gate", "p50_ms"),
        gate_p99=median("gate", "p99_ms"),
        bare_rps=median("baseline", "requests_per_second"),
        bare_p50=median("baseline", "p50_ms"),
        bare_p99=median("baseline", "p99_ms"),
        errors=sum(run.result.errors for label in runs for run in runs[label]),
        allow=sum(run.allow for run in runs["gate"]),
        deny=sum(run.deny for run in runs["gate"]),
        gate_cpu_ms=(cpu("gate", "app_cpu_ms"), cpu("gate", "db_cpu_ms")),
        bare_cpu_ms=(cpu("baseline", "app_cpu_ms"), cpu("baseline", "db_cpu_ms")),
    )


def report(summary: Summary, rounds: int) -> None:
    verdict = {True: "PASS", False: "BELOW FLOOR"}
    print()
    print(f"RESULT (medians of {rounds} interleaved rounds)")
    print(f"{'target':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for label, rps, p50, p99 in (
        (f"gate POST {GATE_PATH}", summary.gate_rps, summary.gate_p50, summary.gate_p99),
        (f"baseline GET {BARE_PATH}", summary.bare_rps, summary.bare_p50, summary.bare_p99),
    ):
        print(f"{label:<44} {rps:>9.1f} {p50:>9.2f} {p99:>9.2f}")
    print()
    print(
        f"gate decisions/s:         {summary.gate_rps:.1f}  ({summary.allow} allow, {summary.deny} deny in all rounds)"
    )
    print(f"gate latency p50 / p99:   {summary.gate_p50:.2f} ms / {summary.gate_p99:.2f} ms")
    print(f"errors (non-200, socket): {summary.errors}")
    print(f"baseline req/s:           {summary.bare_rps:.1f}")
    print(f"ratio gate/baseline:      {summary.ratio:.3f}")
    print(
        f"cpu per request (info):   gate app {summary.gate_cpu_ms[0]:.2f} ms + db {summary.gate_cpu_ms[1]:.2f} ms, "
        f"baseline app {summary.bare_cpu_ms[0]:.2f} ms + db {summary.bare_cpu_ms[1]:.2f} ms: "
        f"cpu-bound ratio {summary.cpu_ratio:.3f}"
    )
    print(f"floor p99 <= {FLOOR_P99_MS:g} ms:      {verdict[summary.p99_ok]}")
    print(f"floor ratio >= {FLOOR_RATIO:.2f}:      {verdict[summary.ratio_ok]}", flush=True)


# --------------------------------------------------------------------------------------------------
# Diagnostics: what the workers' database sessions do under load, and an in-process profile
# --------------------------------------------------------------------------------------------------

SESSION_SQL = """
SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


def _session_state(state: str | None, wait_type: str | None, wait_event: str | None, query: str) -> str:
    if state == "active":
        if wait_type is None:
            return f"in PostgreSQL, running: {query}"
        return f"in PostgreSQL, waiting {wait_type}/{wait_event}: {query}"
    if state == "idle in transaction":
        return "outside PostgreSQL, inside a transaction (idle in transaction: Python, or waiting for a CPU)"
    return "outside PostgreSQL, no transaction open (idle: Python, HTTP, or waiting for a CPU)"


def sample_sessions(database_url: str, stop: threading.Event, counts: Counter[str]) -> None:
    connection = psycopg2.connect(database_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            while not stop.is_set():
                cursor.execute(SESSION_SQL)
                for state, wait_type, wait_event, query in cursor.fetchall():
                    counts[_session_state(state, wait_type, wait_event, query or "")] += 1
                time.sleep(SAMPLE_INTERVAL_SECONDS)
    finally:
        connection.close()


def diagnose_sessions(generator: LoadGenerator, gate: LoadTarget, database_url: str) -> None:
    counts: Counter[str] = Counter()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_sessions, args=(database_url, stop, counts), daemon=True)
    sampler.start()
    try:
        run = generator.run(gate, DIAGNOSTIC_SECONDS)
    finally:
        stop.set()
        sampler.join()
    total = sum(counts.values())
    print()
    print(
        f"DIAGNOSTIC (not part of the figures): {DIAGNOSTIC_SECONDS:g} s of gate load "
        f"({run.result.requests_per_second:.1f} req/s, p99 {run.result.p99_ms:.1f} ms); the workers' database "
        f"sessions sampled every {SAMPLE_INTERVAL_SECONDS * 1e3:g} ms in pg_stat_activity ({total} samples):"
    )
    for state, count in counts.most_common(14):
        print(f"  {count / total * 100:5.1f}%  {state}")


def print_profile(profile: Any) -> None:
    print()
    print(
        f"PROFILE {profile.label}: {profile.requests} requests in this process (django.test.Client, whole stack): "
        f"{profile.wall_ms:.1f} ms per request ({profile.cpu_ms:.1f} ms CPU of this process), "
        f"{profile.queries:.1f} queries per request "
        f"({', '.join(f'{name} {count:g}' for name, count in profile.statements.items())}), "
        f"database {profile.db_ms:.1f} ms per request (queries + commits)"
    )
    print("  queries and commits by call site (per request: count, ms):")
    for site in sorted(profile.sites, key=lambda site: site.site):
        print(f"    {site.count / profile.requests:5.1f} {site.seconds / profile.requests * 1e3:7.2f} ms  {site.site}")
        print(f"{'':22}{site.sql}")
    print("  cProfile on the CPU clock, cumulative CPU per request (inflated by the profiler; % of the profiled CPU):")
    for label, ms, share in profile.functions:
        print(f"    {ms:7.2f} ms {share:5.1f}%  {label}")
    print("  cProfile on the CPU clock, most own CPU per request:")
    for label, ms, share in profile.own_time:
        print(f"    {ms:7.2f} ms {share:5.1f}%  {label}")


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 teams, 50 models, 3 s rounds")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"interleaved rounds (default {ROUNDS})")
    parser.add_argument("--seconds", type=float, default=None, help=f"one run (default {DURATION_SECONDS} s)")
    parser.add_argument("--profile", action="store_true", help="run the diagnostics even when both floors pass")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else float(DURATION_SECONDS))
    args.warmup = 1.0 if args.quick else float(WARMUP_SECONDS)
    if args.rounds < 3 or args.seconds <= 0:
        parser.error("--rounds must be at least 3 and --seconds positive")
    return args


def run(args: argparse.Namespace, database_url: str, key_dir: str, workdir: Path) -> int:
    env = child_environment(database_url)
    env["MODELGOV_KEY_DIR"] = key_dir
    os.environ.update(env)  # the same environment for manage.py, this process and gunicorn
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # this process only: no line per eager Celery task

    run_started = time.perf_counter()
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, loadavg {load1:.2f} {load5:.2f}; python {sys.version.split()[0]}")
    print(f"database: {_database_name(database_url)} (reset, migrate, init_keys)", flush=True)
    reset_database(database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "init_keys")

    import django

    django.setup()
    from django.db import connections

    from bench import _gate_support as support

    plan = (
        support.InventoryPlan(teams=5, models=50, versions_per_model=10, approvals=10)
        if args.quick
        else support.InventoryPlan(teams=20, models=1000, versions_per_model=10, approvals=100)
    )
    print(
        f"INVENTORY: {plan.models} models x {plan.versions_per_model} versions in {plan.teams} teams, "
        f"{plan.approvals} production approvals",
        flush=True,
    )
    started = time.perf_counter()
    loaded = support.inventory_load(plan, lambda line: print(f"  {line}", flush=True))
    print(
        f"  approvals: {loaded.approvals} through approval_request_create + approval_request_decide "
        f"({loaded.approval_seconds / max(1, loaded.approvals) * 1e3:.0f} ms each); model_version_verify on "
        f"{loaded.verified_sample} random versions: all checks pass; audit log {loaded.audit_entries} entries, "
        f"{loaded.checkpoints} checkpoints; load total {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    bodies = support.gate_bodies(loaded.allow, loaded.deny, BODIES if not args.quick else 200)
    bodies_path = workdir / "gate_bodies.jsonl"
    bodies_path.write_text("\n".join(bodies) + "\n")
    allow_body = json.dumps(support.gate_body(loaded.allow[0], -1))
    deny_body = json.dumps(support.gate_body(loaded.deny[0], -2))
    connections.close_all()  # hold no session during the load

    gate = LoadTarget(
        "gate",
        "POST",
        GATE_PATH,
        {"Authorization": f"Bearer {loaded.token}", "Content-Type": "application/json"},
        bodies,
        bodies_path,
        GATE_MAX_REQUESTS_PER_RUN if not args.quick else 1_000,
        count_sql="SELECT count(*) FROM governance_gatedecision",
    )
    bare = LoadTarget("baseline", "GET", BARE_PATH, {}, [], None, MAX_REQUESTS_PER_RUN)
    generator_name = choose_generator()
    log_path = workdir / "gunicorn.log"
    port = free_port()
    server = start_gunicorn(env, port, log_path)
    diagnose = args.profile
    meter: CpuMeter | None = None
    try:
        wait_healthy(server, port, log_path)
        meter = CpuMeter(server.pid, database_url)
        preflight(port, gate, bare, allow_body, deny_body)
        load1, load5, _ = os.getloadavg()
        print()
        print(
            f"LOAD: gunicorn {WORKERS} sync workers on 127.0.0.1:{port} ({SETTINGS_MODULE}); {generator_name}, "
            f"{CLIENTS} clients; gate bodies: {len(bodies)} ({len(loaded.allow)} approved and {len(loaded.deny)} "
            f"unapproved versions, alternating, shuffled, dry_run); warm-up {args.warmup:g} s per target, "
            f"{args.rounds} interleaved rounds x {args.seconds:g} s, at most {gate.cap} gate / {bare.cap} baseline "
            f"requests per run; loadavg {load1:.2f} {load5:.2f}",
            flush=True,
        )
        generator = LoadGenerator(port, workdir, generator_name, meter)
        runs = measure(generator, [gate, bare], args.rounds, args.seconds, args.warmup)
        summary = summarise(runs)
        diagnose = diagnose or not (summary.p99_ok and summary.ratio_ok)
        if diagnose:
            diagnose_sessions(generator, gate, database_url)
    except BenchError:
        tail = _log_tail(log_path)
        if tail:
            print(f"gunicorn log (last lines):\n{tail}", file=sys.stderr)
        raise
    finally:
        if meter is not None:
            meter.close()
        stop_gunicorn(server)

    report(summary, args.rounds)
    after = support.after_load()
    print(
        f"after the load: {after.decisions} gate decisions logged ({after.allow} allow), {after.not_dry_run} not "
        f"dry runs, {after.promoted_versions} versions moved out of stage 'none', {after.pending} audit entries "
        f"pending",
        flush=True,
    )
    if after.not_dry_run or after.promoted_versions or after.pending:
        raise BenchError("the gate load changed the inventory or left the audit log unintegrated")
    if diagnose:
        approved = {(target.model, target.version) for target in loaded.allow}
        by_decision: dict[bool, list[str]] = {True: [], False: []}
        for body in bodies:
            fields = json.loads(body)
            by_decision[(fields["model"], fields["version"]) in approved].append(body)
        requests = PROFILE_REQUESTS // 2 if args.quick else PROFILE_REQUESTS
        profiles = [
            support.profile_gate(loaded.token, chosen, label, requests)
            for label, chosen in (("allow", by_decision[True]), ("deny", by_decision[False]))
        ]
        for profile in profiles:
            print_profile(profile)
        bare_wall, bare_cpu = support.profile_bare(requests * 5)
        gate_cpu = statistics.mean(profile.cpu_ms for profile in profiles)
        print(
            f"\nIN-PROCESS BASELINE: GET {BARE_PATH} {bare_wall:.2f} ms per request, {bare_cpu:.2f} ms CPU; "
            f"gate (mean of allow and deny) {gate_cpu:.2f} ms CPU: in-process CPU ratio {bare_cpu / gate_cpu:.3f}"
        )
    print(f"\nwhole run: {time.perf_counter() - run_started:.0f} s")
    return 1 if summary.errors else 0


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        _database_name(database_url)  # refuses a name without "bench": the database is dropped
        with (
            tempfile.TemporaryDirectory(prefix="modelgov-bench-keys-") as key_dir,
            tempfile.TemporaryDirectory(prefix="modelgov-bench-gate-") as workdir,
        ):
            status = run(args, database_url, key_dir, Path(workdir))
    except (BenchError, psycopg2.Error, RuntimeError) as exc:
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if status:
        print("bench failed: non-200 responses during the load (see the rounds above)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
