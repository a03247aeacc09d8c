"""Fixtures of the approval tests: the people of a promotion, a real SMTP server on loopback, a real
Celery worker on the Redis broker, and transactional tests that work with the append-only audit log."""

import copy
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth.models import Group

from governance.choices import Role
from registry.models import ModelVersion, RegisteredModel
from tests.conftest import World, rows_for_the_module
from tests.factories import UserFactory, make_model, make_version, role

from .support import Received, free_port, parse_received, switch_celery_app

BROKER_URL = "redis://127.0.0.1:6379/15"


# --- people ---------------------------------------------------------------------------------------------------


@dataclass
class Cast:
    """The world of tests/conftest.py plus a developer who requests promotions, a second validator
    and a medium-risk model. Team a's models: model-a (high risk) and model-m (medium); team b's:
    model-b (low). Every version was registered by its team's CI user."""

    world: World
    dev_a: Any
    owner_a: Any
    ci_a: Any
    ci_b: Any
    owner_b: Any
    validator: Any
    validator2: Any
    officer: Any
    auditor: Any
    team_a: Group
    model_a: RegisteredModel
    model_m: RegisteredModel
    model_b: RegisteredModel
    version_a: ModelVersion
    version_m: ModelVersion
    version_b: ModelVersion


@dataclass
class _Extras:
    dev_a: Any
    validator2: Any
    model_m: RegisteredModel
    version_m: ModelVersion


def _build_extras(world: World) -> _Extras:
    model_m = make_model(owner=world.owner_a, team=world.team_a, name="model-m", risk_tier="medium")
    return _Extras(
        dev_a=UserFactory(username="dev-a", groups=[world.team_a]),
        validator2=UserFactory(username="validator-2", groups=[role(Role.VALIDATOR)]),
        model_m=model_m,
        version_m=make_version(model=model_m, actor=world.ci_a, seed="m1"),
    )


@pytest.fixture(scope="module")
def _module_extras(_module_world: World | None, django_db_blocker: Any) -> Iterator[_Extras | None]:
    """The cast's own rows, written once per module beside the module's world (see tests/conftest.py);
    None in a module with transactional tests, where ``cast`` writes them for each test."""
    if _module_world is None:
        yield None
        return
    world = _module_world
    with rows_for_the_module(django_db_blocker, lambda: _build_extras(world)) as built:
        yield built


@pytest.fixture
def cast(world: World, _module_extras: _Extras | None) -> Cast:
    if _module_extras is None:
        extras = _build_extras(world)
    else:
        extras = copy.deepcopy(_module_extras)
        for user in (extras.dev_a, extras.validator2):
            for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
                user.__dict__.pop(cache, None)
    return Cast(
        world=world,
        dev_a=extras.dev_a,
        owner_a=world.owner_a,
        ci_a=world.ci_a,
        ci_b=world.ci_b,
        owner_b=world.owner_b,
        validator=world.validator,
        validator2=extras.validator2,
        officer=world.officer,
        auditor=world.auditor,
        team_a=world.team_a,
        model_a=world.model_a,
        model_m=extras.model_m,
        model_b=world.model_b,
        version_a=ModelVersion.objects.get(model=world.model_a, version=1),
        version_m=extras.version_m,
        version_b=ModelVersion.objects.get(model=world.model_b, version=1),
    )


@pytest.fixture
def dual_role(cast: Cast) -> Any:
    """A person who holds both the validator and the compliance officer role."""
    return UserFactory(username="dual", groups=[role(Role.VALIDATOR), role(Role.COMPLIANCE_OFFICER)])


@pytest.fixture
def team_validator(cast: Cast) -> Any:
    """A validator who is also a developer in team a."""
    return UserFactory(username="team-validator", groups=[role(Role.VALIDATOR), cast.team_a])


# --- SMTP -----------------------------------------------------------------------------------------------------


class SmtpSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.port = 0
        self._received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        with self._lock:
            self._received.append(parse_received(envelope.mail_from, envelope.rcpt_tos, content))
        return "250 Message accepted for delivery"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server on loopback (aiosmtpd in a thread)."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def smtp(settings: Any, smtp_server: SmtpSink) -> SmtpSink:
    """Django's SMTP backend pointed at the loopback server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    return smtp_server


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    return free_port()


# --- Celery worker --------------------------------------------------------------------------------------------


@pytest.fixture
def celery_broker(transactional_db: None) -> Iterator[Any]:
    """Switch this process's Celery app from eager mode to the Redis broker, with an empty queue.

    Suites running side by side on this machine share the broker database: a Redis lock keeps their
    worker tests from consuming (or purging) each other's tasks.
    """
    from config.celery import app

    with redis.Redis.from_url(BROKER_URL).lock(
        "modelgov-tests:approvals-celery-worker", timeout=120, blocking_timeout=120
    ):
        previous = (app.conf.broker_url, app.conf.task_always_eager)
        switch_celery_app(app, broker_url=BROKER_URL, eager=False)
        app.control.purge()
        try:
            yield app
        finally:
            app.control.purge()
            switch_celery_app(app, broker_url=previous[0], eager=previous[1])


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def celery_worker(celery_broker: Any, tmp_path: Path) -> Iterator[Callable[[int], Worker]]:
    """Start a real Celery worker (a subprocess on the Redis broker) that sends mail to ``email_port``."""
    started: list[Worker] = []

    def start(email_port: int) -> Worker:
        database = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": (
                f"postgresql://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
            ),
            "CELERY_BROKER_URL": BROKER_URL,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(email_port),
            "MODELGOV_KEY_DIR": str(settings.MODELGOV["KEY_DIR"]),
            "MODELGOV_EMAIL_RETRY_BASE_SECONDS": "0.2",
        }
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool=solo",
                    "--concurrency=1",
                    "-Q",
                    "celery",
                    "--without-heartbeat",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=INFO",
                    f"--hostname=approvals-test-{os.getpid()}@%h",
                ],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log)
        started.append(worker)
        deadline = time.monotonic() + 30
        while " ready." not in worker.output():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not become ready:\n{worker.output()}")
            time.sleep(0.1)
        return worker

    yield start
    for worker in started:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)
