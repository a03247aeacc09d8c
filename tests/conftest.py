"""Shared fixtures: a world of two teams with their people and tokens, on the real PostgreSQL."""

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from core.signing import generate_missing_keys
from governance.choices import Role
from governance.services import api_token_create
from registry.models import ModelVersion, RegisteredModel
from tests.factories import GroupFactory, UserFactory, make_model, make_version, role

T = TypeVar("T")


@dataclass
class World:
    team_a: Group
    team_b: Group
    owner_a: Any
    owner_b: Any
    ci_a: Any
    ci_b: Any
    officer: Any
    auditor: Any
    validator: Any
    model_a: RegisteredModel
    model_b: RegisteredModel
    version_a1: ModelVersion
    version_b1: ModelVersion


@pytest.fixture(scope="session", autouse=True)
def service_keys() -> None:
    """The service's signing keys for the test run (test settings point at a scratch folder)."""
    generate_missing_keys()


def build_world() -> World:
    """Two teams, each with an owner, a CI account, a model (model-a high risk, model-b low) and one
    version; plus a compliance officer, an auditor and a validator who belong to no team."""
    team_a, team_b = GroupFactory(name="team-a"), GroupFactory(name="team-b")
    owner_a = UserFactory(username="owner-a", groups=[role(Role.MODEL_OWNER), team_a])
    owner_b = UserFactory(username="owner-b", groups=[role(Role.MODEL_OWNER), team_b])
    ci_a = UserFactory(username="ci-a", groups=[role(Role.CI_PIPELINE), team_a])
    ci_b = UserFactory(username="ci-b", groups=[role(Role.CI_PIPELINE), team_b])
    officer = UserFactory(username="officer", groups=[role(Role.COMPLIANCE_OFFICER)], is_staff=True)
    auditor = UserFactory(username="auditor", groups=[role(Role.AUDITOR)], is_staff=True)
    validator = UserFactory(username="validator", groups=[role(Role.VALIDATOR)])
    model_a = make_model(owner=owner_a, team=team_a, name="model-a", risk_tier="high")
    model_b = make_model(owner=owner_b, team=team_b, name="model-b", risk_tier="low")
    version_a1 = make_version(model=model_a, actor=ci_a, seed="a1")
    version_b1 = make_version(model=model_b, actor=ci_b, seed="b1")
    return World(
        team_a,
        team_b,
        owner_a,
        owner_b,
        ci_a,
        ci_b,
        officer,
        auditor,
        validator,
        model_a,
        model_b,
        version_a1,
        version_b1,
    )


@contextmanager
def rows_for_the_module(django_db_blocker: Any, build: Callable[[], T]) -> Iterator[T]:
    """Writes ``build()``'s rows once for a test module inside a transaction that is rolled back after
    the module (what Django's TestCase.setUpTestData does); each test then runs in a savepoint inside it."""
    outer = transaction.atomic()

    def roll_back() -> None:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)

    with django_db_blocker.unblock():
        outer.__enter__()
        try:
            built = build()
        except BaseException:
            roll_back()
            raise
    try:
        yield built
    finally:
        roll_back()


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return bool(
        {"transactional_db", "live_server", "django_db_reset_sequences"} & set(getattr(item, "fixturenames", ()))
    )


@pytest.fixture(scope="module")
def _module_world(
    request: pytest.FixtureRequest, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[World | None]:
    """The world, written once per test module and rolled back after it. A module with transactional
    tests gets None: its rows must be committed, so ``world`` writes them for each test instead."""
    if any(_transactional(item) for item in request.session.items if getattr(item, "module", None) is request.module):
        yield None
        return
    with rows_for_the_module(django_db_blocker, build_world) as built:
        yield built


_PERMISSION_CACHES = ("_perm_cache", "_user_perm_cache", "_group_perm_cache")


@pytest.fixture
def world(_module_world: World | None, db: Any) -> World:
    """model-a and model-b with their teams and people (see build_world). In a module without
    transactional tests it is a private copy of rows written once for the module."""
    if _module_world is None:
        return build_world()
    copied = copy.deepcopy(_module_world)
    people = (
        copied.owner_a,
        copied.owner_b,
        copied.ci_a,
        copied.ci_b,
        copied.officer,
        copied.auditor,
        copied.validator,
    )
    for user in people:
        for cache in _PERMISSION_CACHES:
            user.__dict__.pop(cache, None)
    return copied


def client_for(user: Any | None) -> APIClient:
    """An API client that authenticates as ``user`` with a real bearer token (None: anonymous)."""
    client = APIClient()
    if user is not None:
        issued = api_token_create(actor=None, user=user, name="test", expires_at=None)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


@pytest.fixture
def api() -> Any:
    return client_for


@pytest.fixture
def superuser(db: Any) -> Any:
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_client_for() -> Any:
    """A Django test client logged in (session) as the given user, for admin pages."""

    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# --- transactional tests: the flush at their end ------------------------------------------------------------

# Triggers that refuse TRUNCATE on the append-only tables (core.dbtriggers).
_TRUNCATE_GUARDS_SQL = """
SELECT c.relname, t.tgname, t.tgenabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND p.proname = 'modelgov_reject_change' AND (t.tgtype & 32) <> 0
"""
_ENABLE = {"A": "ENABLE ALWAYS", "O": "ENABLE", "R": "ENABLE REPLICA", "D": "DISABLE"}


@contextmanager
def flush_through_append_only_triggers() -> Iterator[None]:
    """Let the end of a transactional test empty the append-only tables (audit log, lineage events and
    snapshots), and put the migrated rows back.

    A transactional test ends with a TRUNCATE of every table, which the append-only tables refuse by
    design. For the flush only, and inside its transaction, their TRUNCATE triggers are switched off
    and then restored exactly as they were; the rows the migrations made (roles, policies,
    permissions) are then reloaded so that later tests find the database as migrated. Package
    conftests that run live servers or workers wrap their package in it.
    """
    from django.db import connection
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush
    # Taken now: Playwright's greenlets get connection objects of their own, without this attribute.
    migrated_rows = getattr(connection, "_test_serialized_contents", None)

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(_TRUNCATE_GUARDS_SQL)
            guards = cursor.fetchall()
        disable = [f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"' for table, name, _ in guards]
        restore = [f'ALTER TABLE "{table}" {_ENABLE[state]} TRIGGER "{name}"' for table, name, state in guards]
        original(self, [*disable, *sql_list, *restore])
        rows = migrated_rows or getattr(self.connection, "_test_serialized_contents", None)
        if rows:
            self.connection.creation.deserialize_db_from_string(rows)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    try:
        yield
    finally:
        DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _flush_through_append_only_triggers(django_db_setup: None) -> Iterator[None]:
    """Every transactional test of the session flushes through the append-only triggers and gets the
    migrated rows back, whatever package it is in and whatever ran before it."""
    with flush_through_append_only_triggers():
        yield


@pytest.fixture
def transactional_db(django_db_serialized_rollback: None, transactional_db: None) -> None:
    """pytest-django's transactional_db, with the migrated rows serialized so they can be reloaded."""
