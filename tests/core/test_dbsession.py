"""core.dbsession: the request's first read stands in for Django's health check, on a live connection
and on one the server has dropped (needs real autocommit sessions: transactional_db)."""

from dataclasses import dataclass
from datetime import timedelta

import psycopg2
import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from core import dbsession
from governance.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@dataclass
class Reused:
    pid: int  # the session the connection holds
    health_checks: list[bool]  # Django's own checks (is_usable: a SELECT 1) since the request began


@pytest.fixture
def reused(monkeypatch):
    """The connection as a reused one at the start of a request with CONN_HEALTH_CHECKS on."""
    pid = backend_pid()
    calls: list[bool] = []
    real = connection.is_usable

    def counting():
        calls.append(True)
        return real()

    monkeypatch.setattr(connection, "is_usable", counting)
    monkeypatch.setattr(connection, "health_check_enabled", True)
    connection.health_check_done = False
    return Reused(pid, calls)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def drop_session(pid: int) -> None:
    """The server ends the session, as a restart or an idle timeout would."""
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone() == (True,)
    finally:
        other.close()


def pid_read(reads):
    def read(cursor):
        reads.append(True)
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]

    return read


def test_on_a_live_connection_the_read_is_the_check_and_runs_once(reused):
    reads = []

    assert dbsession.read_checking_session(pid_read(reads)) == reused.pid

    assert reads == [True]
    assert reused.health_checks == []  # no SELECT 1 before the read
    assert connection.health_check_done is True


def test_on_a_dropped_connection_the_read_runs_again_on_a_new_session(reused):
    drop_session(reused.pid)
    reads = []

    pid = dbsession.read_checking_session(pid_read(reads))

    assert pid != reused.pid
    assert reads == [True, True]
    assert reused.health_checks == [True]  # asked once, after the read failed: the session was gone
    assert backend_pid() == pid  # the request goes on with the new session


def test_the_reads_own_error_on_a_live_connection_is_raised_not_retried(reused):
    reads = []

    def slow(cursor):
        reads.append(True)
        cursor.execute("SET statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")

    with pytest.raises(OperationalError, match="statement timeout"):
        dbsession.read_checking_session(slow)

    assert reads == [True]
    assert reused.health_checks == [True]
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")
    assert backend_pid() == reused.pid  # the connection was fine and was kept


def test_after_the_check_a_dropped_connection_is_not_retried(reused):
    connection.health_check_done = True  # this request's connection was checked already
    drop_session(reused.pid)
    reads = []

    with pytest.raises(OperationalError):
        dbsession.read_checking_session(pid_read(reads))

    assert reads == [True]
    assert reused.health_checks == []
    connection.close()


def test_a_token_call_on_a_dropped_connection_answers(reused, django_user_model):
    user = django_user_model.objects.create_user("ci-bot")
    issued = api_token_create(actor=None, user=user, name="t", expires_at=timezone.now() + timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert client.get("/api/v1/models/").status_code == 200
    dropped = backend_pid()
    connection.health_check_done = False  # a new request on the reused connection
    reused.health_checks.clear()
    drop_session(dropped)

    response = client.get("/api/v1/models/")

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert backend_pid() != dropped
    assert reused.health_checks == [True]  # once, after the token read failed


def test_a_token_call_on_a_live_reused_connection_asks_no_select_1(reused, django_user_model):
    user = django_user_model.objects.create_user("ci-bot")
    issued = api_token_create(actor=None, user=user, name="t", expires_at=timezone.now() + timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    pid = backend_pid()
    connection.health_check_done = False  # a new request on the reused connection
    reused.health_checks.clear()

    response = client.get("/api/v1/models/")

    assert response.status_code == 200
    assert reused.health_checks == []  # the token read stood in for Django's SELECT 1
    assert backend_pid() == pid
