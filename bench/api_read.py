"""Read-path benchmark: the model-version detail endpoint against a bare DRF endpoint on the same stack.

One run resets a dedicated PostgreSQL database, migrates and seeds it, serves the product's URLs plus
``/bench/bare`` (bench/baseline_urls.py) with one gunicorn (2 sync workers), loads both targets with
16 concurrent clients in interleaved rounds and prints medians, the throughput ratio and the floor.

    .venv/bin/python bench/api_read.py      # or: make bench

Exit status: 0 after a measurement (even below the floor), 1 on any non-200 response or setup failure.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/modelgov_bench"
# Seeded by manage.py seed_demo (fixtures/demo/inventory.json) for carla.compliance.
DEMO_TOKEN = "mg_demo_compliance_officer_not_for_production"

WORKERS = 2
CLIENTS = 16
WARMUP_SECONDS = 2
DURATION_SECONDS = 10
# Only the Python load generator honours a request cap; wrk runs for the fixed duration.
MAX_REQUESTS_PER_RUN = 50_000
ROUNDS = 3
FLOOR = 0.60
SERVER_START_TIMEOUT_SECONDS = 30

# wrk reports socket errors and statuses >= 400 itself; this script also counts 2xx/3xx other than 200
# and prints one machine-readable line that the orchestrator parses.
WRK_SCRIPT = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local non200_total = 0
  for _, thread in ipairs(threads) do
    non200_total = non200_total + thread:get("non200")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d non200=%d socket=%d\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    non200_total, e.connect + e.read + e.write + e.timeout))
end
"""
WRK_RESULT = re.compile(
    r"BENCH_RESULT requests=(\d+) duration_us=(\d+) bytes=(\d+) p50_us=(\d+) p99_us=(\d+) "
    r"non200=(\d+) socket=(\d+)"
)


class BenchError(Exception):
    """Setup or measurement failed: the run has no valid figures."""


@dataclass(frozen=True)
class Target:
    label: str
    path: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class RunResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes_per_response: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def _database_name(database_url: str) -> str:
    name = urlsplit(database_url).path.lstrip("/")
    # The database is dropped on every run: refuse anything that is not obviously a scratch database.
    if not name or "bench" not in name:
        raise BenchError(f"refusing to reset database {name!r}: its name must contain 'bench'")
    return name


def reset_database(database_url: str) -> None:
    """Drop and create the benchmark database, connected to the server's ``postgres`` database."""
    name = _database_name(database_url)
    maintenance_url = urlsplit(database_url)._replace(path="/postgres").geturl()
    connection = psycopg2.connect(maintenance_url)
    try:
        connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def child_environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["DJANGO_DEBUG"] = "0"  # DEBUG records every query: it would skew the figures
    # seed_demo sends approval emails; the console backend would print them all.
    env["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    env.pop("CELERY_BROKER_URL", None)  # its tasks run in-process: no mail leaves through a real worker
    python_path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(python_path)
    return env


def manage(env: Mapping[str, str], *args: str) -> str:
    """Run ``manage.py`` with the base settings; return its output or fail with it."""
    command = [sys.executable, "manage.py", *args]
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.base"},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(env: Mapping[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "config.wsgi:application",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_gunicorn(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def get(port: int, target: Target) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", target.path, headers=dict(target.headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_healthy(server: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    health = Target("healthz", "/healthz", {})
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited with status {server.returncode}:\n{_log_tail(log_path)}")
        try:
            if get(port, health)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer /healthz within {SERVER_START_TIMEOUT_SECONDS} s")


def preflight(port: int, targets: list[Target]) -> None:
    """One request per target: a wrong token or a missing row fails here, not as 10 s of errors."""
    for target in targets:
        status, body = get(port, target)
        if status != 200:
            raise BenchError(f"{target.label}: {target.path} answered {status}: {body[:300]!r}")


def wrk_command(
    port: int, path: str, headers: Mapping[str, str], seconds: float, script_path: Path, *script_args: str
) -> list[str]:
    """wrk with one thread driving CLIENTS connections (the cores are left to the server)."""
    command = ["wrk", "--threads", "1", "--connections", str(CLIENTS), "--duration", f"{seconds:g}s"]
    command += ["--timeout", "5s", "--script", str(script_path)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    return [*command, "--", *script_args] if script_args else command


def run_wrk(port: int, target: Target, seconds: float, script_path: Path) -> RunResult:
    command = wrk_command(port, target.path, target.headers, seconds, script_path)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    match = WRK_RESULT.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
    requests, duration_us, size, p50_us, p99_us, non200, socket_errors = map(int, match.groups())
    return RunResult(
        requests=requests,
        seconds=duration_us / 1e6,
        p50_ms=p50_us / 1e3,
        p99_ms=p99_us / 1e3,
        errors=non200 + socket_errors,
        bytes_per_response=size / requests if requests else 0.0,
    )


def run_python(port: int, target: Target, seconds: float, max_requests: int) -> RunResult:
    """One thread and one keep-alive connection per client; stops at the deadline or the request cap."""
    per_client = max(1, max_requests // CLIENTS)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors = [0] * CLIENTS
    sizes = [0] * CLIENTS
    headers = dict(target.headers)
    start = time.perf_counter()
    deadline = start + seconds

    def client(index: int) -> None:
        own = latencies[index]
        # http.client reopens the connection by itself when the server closes it (gunicorn sync workers).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            while len(own) < per_client and time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    connection.request("GET", target.path, headers=headers)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    connection.close()
                    continue
                own.append(time.perf_counter() - sent)
                sizes[index] += len(body)
                if response.status != 200:
                    errors[index] += 1
        finally:
            connection.close()

    return run_clients(client, start, target.label, seconds, latencies, errors, sizes)


def run_clients(
    client: Callable[[int], None],
    start: float,
    label: str,
    seconds: float,
    latencies: list[list[float]],
    errors: list[int],
    sizes: list[int],
) -> RunResult:
    """Run ``client(index)`` on CLIENTS threads and summarise what they recorded (seconds per response,
    errors and bytes per client)."""
    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    merged = sorted(latency for own in latencies for latency in own)
    if len(merged) < 2:
        raise BenchError(f"{label}: fewer than two responses in {seconds:g} s")
    cuts = statistics.quantiles(merged, n=100, method="inclusive")
    return RunResult(
        requests=len(merged),
        seconds=elapsed,
        p50_ms=cuts[49] * 1e3,
        p99_ms=cuts[98] * 1e3,
        errors=sum(errors),
        bytes_per_response=sum(sizes) / len(merged),
    )


class LoadGenerator:
    """wrk when it is installed (light on CPU), else Python threads."""

    def __init__(self, port: int, workdir: Path, name: str) -> None:
        self.port = port
        self.name = name
        self.script_path = workdir / "report.lua"
        self.script_path.write_text(WRK_SCRIPT)

    def run(self, target: Target, seconds: float) -> RunResult:
        if self.name == "wrk":
            result = run_wrk(self.port, target, seconds, self.script_path)
        else:
            result = run_python(self.port, target, seconds, MAX_REQUESTS_PER_RUN)
        if result.errors:
            raise BenchError(f"{target.label}: {result.errors} errors or non-200 responses")
        return result


def choose_generator() -> str:
    forced = os.environ.get("BENCH_LOAD_GENERATOR", "").strip().lower()
    if forced in {"wrk", "python"}:
        if forced == "wrk" and shutil.which("wrk") is None:
            raise BenchError("BENCH_LOAD_GENERATOR=wrk but wrk is not on PATH")
        return forced
    if forced:
        raise BenchError(f"BENCH_LOAD_GENERATOR must be 'wrk' or 'python', not {forced!r}")
    return "wrk" if shutil.which("wrk") else "python"


def measure(generator: LoadGenerator, targets: list[Target]) -> dict[str, list[RunResult]]:
    """Warm each target up, then interleave the rounds (A, B, A, B, ...) so drift hits both alike."""
    for target in targets:
        generator.run(target, WARMUP_SECONDS)
    results: dict[str, list[RunResult]] = {target.label: [] for target in targets}
    for round_number in range(1, ROUNDS + 1):
        for target in targets:
            result = generator.run(target, DURATION_SECONDS)
            results[target.label].append(result)
            print(
                f"  round {round_number} {target.label}: {result.requests_per_second:8.1f} req/s  "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  ({result.requests} requests)",
                flush=True,
            )
    return results


def report(targets: list[Target], results: dict[str, list[RunResult]]) -> None:
    def median(label: str, field: str) -> float:
        return statistics.median(getattr(result, field) for result in results[label])

    print()
    print(f"{'target':<58} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>6} {'errors':>6}")
    for target in targets:
        label = target.label
        errors = sum(result.errors for result in results[label])
        print(
            f"{label + ' GET ' + target.path:<58} {median(label, 'requests_per_second'):>8.1f} "
            f"{median(label, 'p50_ms'):>8.2f} {median(label, 'p99_ms'):>8.2f} "
            f"{median(label, 'bytes_per_response'):>6.0f} {errors:>6}"
        )
    detail, bare = (median(target.label, "requests_per_second") for target in targets)
    ratio = detail / bare if bare else 0.0
    print()
    print(f"ratio throughput(a)/throughput(b): {ratio:.2f}")
    print(f"floor: ratio >= {FLOOR:.2f}  {'PASS' if ratio >= FLOOR else 'BELOW FLOOR'}")


def main() -> int:
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    targets = [
        Target(
            "(a)",
            "/api/v1/models/credit-default-pd/versions/3",
            {"Authorization": f"Bearer {DEMO_TOKEN}"},
        ),
        Target("(b)", "/bench/bare", {}),
    ]
    try:
        generator_name = choose_generator()
        env = child_environment(database_url)
        print(f"database: {_database_name(database_url)} (reset, migrate, init_keys, seed_demo)", flush=True)
        with (
            tempfile.TemporaryDirectory(prefix="modelgov-bench-keys-") as key_dir,
            tempfile.TemporaryDirectory(prefix="modelgov-bench-") as workdir,
        ):
            # Service keys of this run only: a fresh clone has none, and the demo's are not touched.
            env["MODELGOV_KEY_DIR"] = key_dir
            reset_database(database_url)
            manage(env, "migrate", "--noinput")
            manage(env, "init_keys")
            summary = [line for line in manage(env, "seed_demo").splitlines() if line.startswith("seed_demo:")]
            print(f"  {summary[-1] if summary else 'seed_demo: done'}", flush=True)
            log_path = Path(workdir) / "gunicorn.log"
            port = free_port()
            server = start_gunicorn(env, port, log_path)
            try:
                wait_healthy(server, port, log_path)
                preflight(port, targets)
                load1, load5, _ = os.getloadavg()
                print(
                    f"server: gunicorn, {WORKERS} sync workers on 127.0.0.1:{port}; "
                    f"load: {generator_name}, {CLIENTS} clients, warm-up {WARMUP_SECONDS} s, "
                    f"{ROUNDS} interleaved rounds x {DURATION_SECONDS} s; "
                    f"{os.cpu_count()} CPUs, loadavg {load1:.2f} {load5:.2f}",
                    flush=True,
                )
                results = measure(LoadGenerator(port, Path(workdir), generator_name), targets)
            except BenchError:
                tail = _log_tail(log_path)
                if tail:
                    print(f"gunicorn log (last lines):\n{tail}", file=sys.stderr)
                raise
            finally:
                stop_gunicorn(server)
    except (BenchError, psycopg2.Error) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    report(targets, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
