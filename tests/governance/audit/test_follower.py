"""The following integrator (``manage.py integrate_audit_log --follow``): while one runs, writers only
insert and leave integration to it; when it stops, writers integrate after their commits again; a
second follower waits as a standby. It runs here in a thread with its own connection, hence
transactional_db."""

import threading
import time
from io import StringIO

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from governance.audit import services
from governance.audit.services import (
    FOLLOWER_LOCK,
    audit_log_follow,
    audit_log_integrate,
    audit_record,
    integrator_follow_forget,
    integrator_following,
)
from governance.choices import AuditEvent
from governance.models import AuditEntry, AuditLeaf, AuditPending
from tests.factories import GroupFactory, UserFactory, make_model

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _forget_the_follower():
    integrator_follow_forget()
    yield
    integrator_follow_forget()


@pytest.fixture
def model():
    found = make_model(owner=UserFactory(username="owner-f"), team=GroupFactory(name="team-f"), name="model-f")
    audit_log_integrate()
    return found


def record(model, number: int) -> AuditEntry:
    with transaction.atomic():
        return audit_record(
            actor=None,
            event_type=AuditEvent.REGISTERED_MODEL_UPDATED,
            subject=model,
            model_name=model.name,
            after={"n": number},
        )


def raw_connection():
    settings = connection.settings_dict
    return psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )


class Follower:
    """audit_log_follow in a thread of its own (its own connection, closed when it ends)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            audit_log_follow(interval=0.01, stop=self.stop)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            connections.close_all()

    def __enter__(self) -> "Follower":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        assert self.error is None


def follower_lock_holders() -> list[bool]:
    """``granted`` of every session holding or waiting for the follower lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT granted FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
            "AND objsubid = 1 ORDER BY granted DESC",
            [FOLLOWER_LOCK >> 32, FOLLOWER_LOCK & 0xFFFFFFFF],
        )
        return [row[0] for row in cursor.fetchall()]


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_while_a_follower_holds_its_lock_writers_only_insert(model):
    holder = raw_connection()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [FOLLOWER_LOCK])
        integrator_follow_forget()  # writers look again at most once a second; this one looks now
        size = AuditLeaf.objects.count()

        entry = record(model, 1)

        assert integrator_following() is True
        assert list(AuditPending.objects.values_list("entry_id", flat=True)) == [entry.pk]
        assert AuditLeaf.objects.count() == size
    finally:
        holder.close()  # the session ends: its lock goes with it
    # Until the writer looks again, it trusts what it saw; then it integrates after commit again.
    integrator_follow_forget()
    second = record(model, 2)
    assert integrator_following() is False
    assert AuditPending.objects.count() == 0
    assert list(AuditLeaf.objects.filter(seq__gte=size).order_by("seq").values_list("entry_id", flat=True)) == [
        entry.pk,
        second.pk,
    ]


def test_a_follower_integrates_what_writers_leave_in_contiguous_seqs(model):
    size = AuditLeaf.objects.count()
    with Follower():
        wait_until(lambda: follower_lock_holders() == [True])
        integrator_follow_forget()
        entries = [record(model, number) for number in range(30)]
        assert integrator_following() is True
        wait_until(lambda: AuditPending.objects.count() == 0)

    leaves = list(AuditLeaf.objects.filter(seq__gte=size).order_by("seq").values_list("seq", "entry_id"))
    assert leaves == [(size + offset, entry.pk) for offset, entry in enumerate(entries)]
    assert follower_lock_holders() == []


def test_a_second_follower_waits_and_takes_over_when_the_first_stops(model):
    first = Follower().__enter__()
    wait_until(lambda: follower_lock_holders() == [True])
    with Follower():
        wait_until(lambda: follower_lock_holders() == [True, False])  # the standby waits for the lock
        first.__exit__(None, None, None)
        wait_until(lambda: follower_lock_holders() == [True])  # the standby now follows
        entry = record(model, 1)
        wait_until(lambda: AuditPending.objects.count() == 0)
        assert AuditLeaf.objects.filter(entry_id=entry.pk).count() == 1
    assert follower_lock_holders() == []


def test_the_follower_check_asks_the_database_at_most_once_per_interval(model, django_assert_num_queries):
    assert integrator_following() is False
    with django_assert_num_queries(0):
        assert integrator_following() is False
    services._follower_seen.at = time.monotonic() - services.FOLLOWER_CHECK_SECONDS
    with django_assert_num_queries(1):
        assert integrator_following() is False


def test_integrate_audit_log_once_prints_the_size(model):
    holder = raw_connection()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [FOLLOWER_LOCK])
        integrator_follow_forget()
        record(model, 1)
        record(model, 2)
    finally:
        holder.close()
    assert AuditPending.objects.count() == 2
    out = StringIO()

    call_command("integrate_audit_log", stdout=out)

    assert out.getvalue() == f"audit log integrated: size {AuditEntry.objects.count()}\n"
    assert AuditPending.objects.count() == 0
    assert AuditLeaf.objects.count() == AuditEntry.objects.count()


@pytest.mark.parametrize("interval", ["0", "-1", "61"])
def test_integrate_audit_log_refuses_a_bad_interval(interval):
    with pytest.raises(CommandError, match="--interval must be more than 0 and at most 60 seconds"):
        call_command("integrate_audit_log", "--follow", "--interval", interval)
    assert follower_lock_holders() == []


def test_a_writer_whose_integration_placed_its_entry_knows_the_seq_without_asking(model):
    services.forget_placed()
    entry = record(model, 1)  # no follower: the writer integrates after its commit

    seq = AuditLeaf.objects.get(entry=entry).seq
    with CaptureQueriesContext(connection) as queries:
        assert services.audit_seq_known(entry_id=entry.pk) == seq
    assert len(queries) == 0

    services.forget_placed()
    with CaptureQueriesContext(connection) as queries:
        assert services.audit_seq_known(entry_id=entry.pk) == seq
    assert len(queries) == 1


def test_an_integration_that_rolls_back_leaves_no_seq_in_memory(model):
    services.forget_placed()
    holder = raw_connection()
    try:
        with holder.cursor() as cursor:  # another integrator holds the lock: the writer's try fails
            cursor.execute("SELECT pg_advisory_lock(%s)", [services.INTEGRATOR_LOCK])
        entry = record(model, 2)
    finally:
        holder.close()
    assert AuditPending.objects.filter(entry=entry).exists()

    with pytest.raises(RuntimeError), transaction.atomic():
        audit_log_integrate()
        raise RuntimeError("roll back")

    assert (services._placed.get(entry.pk), services.audit_seq_known(entry_id=entry.pk)) == (None, None)
    size = audit_log_integrate()
    assert services.audit_seq_known(entry_id=entry.pk) == AuditLeaf.objects.get(entry=entry).seq == size - 1


def test_the_seqs_kept_in_memory_are_bounded_and_the_newest_stay(monkeypatch):
    services.forget_placed()
    monkeypatch.setattr(services._placed, "limit", 3)

    services._remember_placed([(10, 0), (11, 1)])
    services._remember_placed([(12, 2), (13, 3), (14, 4)])

    assert services._placed == {12: 2, 13: 3, 14: 4}
    services.forget_placed()
    assert services._placed == {}
