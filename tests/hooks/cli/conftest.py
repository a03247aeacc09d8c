"""Fixtures of the CLI tests: the real ``modelgov`` command as a subprocess, the gate's public key as a
file, loopback ports, a service whose database is unreachable (gunicorn on config.wsgi), and
transactional tests (the live server) that work with the append-only audit tables."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.signing import KeyPurpose, public_key_pem, service_public_key

REPO_ROOT = Path(__file__).resolve().parents[3]
# Variables the CLI reads besides ours: a CI runner's own would change the pipeline it reports.
FOREIGN_ENV = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "MODELGOV_GATE_KEY", "MODELGOV_URL", "MODELGOV_TOKEN")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, url: str, token: str | None, timeout: float = 60) -> Run:
    """``python -m hooks.cli ARGS`` with MODELGOV_URL and MODELGOV_TOKEN, as a pipeline runs it."""
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
    env["MODELGOV_URL"] = url
    if token is not None:
        env["MODELGOV_TOKEN"] = token
    result = subprocess.run(
        [sys.executable, "-m", "hooks.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def cli() -> Callable[..., Run]:
    return run_cli


@pytest.fixture
def gate_pub(tmp_path: Path) -> Path:
    """The gate's public key, pinned in a file as a pipeline keeps it."""
    path = tmp_path / "gate.pub"
    path.write_text(public_key_pem(service_public_key(KeyPurpose.GATE_DECISION)), encoding="ascii")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    return free_port()


@dataclass(frozen=True)
class Service:
    url: str
    log: Path


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def service_without_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service (gunicorn serving config.wsgi with the test settings) whose database is down: its
    DATABASE_URL names a loopback port where nothing listens. Stopped by its own pid afterwards."""
    port, database_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("service") / "gunicorn.log"
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL",)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{database_port}/nowhere",
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{url}/healthz") == (200, b'{"status": "ok"}'):
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the service did not start:\n" + log.read_text(errors="replace")
            time.sleep(0.1)
        yield Service(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def get_json() -> Callable[[str], tuple[int, object]]:
    def get(url: str) -> tuple[int, object]:
        status, body = _get(url)
        return status, json.loads(body)

    return get


# --- transactional tests (the live server) ---------------------------------------------------------------------
