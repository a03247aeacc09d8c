"""A promotion takes its locks in the order the other services take theirs, so that it waits for them
instead of deadlocking with them (real PostgreSQL sessions, so transactional_db)."""

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction

from governance.models import ApprovalRequest
from registry.models import ModelVersion
from tests.factories import approve_promotion

from .support import promote

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _promote_in_thread(world: Any, outcome: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            decision, seq = promote(world)
            outcome["decision"] = (decision.decision, decision.promoted, seq is not None)
        except Exception as exc:  # reported to the test below
            outcome["error"] = exc
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def _waiting_on_a_lock(pid_other_than: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> %s", [pid_other_than]
        )
        return bool(cursor.fetchone()[0])


def test_a_promotion_waits_for_an_approval_being_decided_and_neither_deadlocks(world):
    """As approval_request_decide does: the request locked first, then a row that references the version
    (its foreign-key check takes a key-share lock on the version) while the gate is waiting. With the
    version locked first by the gate, the two waited for each other and PostgreSQL killed one."""
    request = approve_promotion(
        version=world.version_b1, stage="production", requester=world.ci_b, approvers=[world.validator]
    )
    outcome: dict[str, Any] = {}
    with transaction.atomic():
        ApprovalRequest.objects.select_for_update().filter(pk=request.pk).values_list("pk", flat=True).get()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            own_pid = cursor.fetchone()[0]
        promotion = _promote_in_thread(world, outcome)
        promotion.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_lock(own_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_a_lock(own_pid), "the promotion should be waiting for the approval request"
        with connection.cursor() as cursor:  # what the snapshot's foreign-key check takes on the version
            cursor.execute("SELECT 1 FROM registry_modelversion WHERE id = %s FOR KEY SHARE", [world.version_b1.pk])
    promotion.join(timeout=30)

    assert not promotion.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["decision"] == ("allow", True, True)
    assert ModelVersion.objects.values_list("stage", flat=True).get(pk=world.version_b1.pk) == "production"
