"""Expiry and the 30-day reminder, with time frozen through approval_expire_due(now=...)."""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from governance.approvals.services import approval_expire_due
from governance.models import ApprovalRequest, EmailDelivery

from .support import approve_all, audit_mark, audit_since, decide, open_request, snapshot, state_changed


def _approved(cast: Any) -> ApprovalRequest:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    assert request.expires_at is not None
    return request


def _deliveries(template: str) -> list[tuple[str, list[str], str]]:
    return list(EmailDelivery.objects.filter(template=template).values_list("template", "to", "subject"))


def test_expiry_marks_the_request_expired_and_emails_the_owner(cast: Any) -> None:
    request = _approved(cast)
    mark = audit_mark()

    expired = approval_expire_due(now=request.expires_at + timedelta(seconds=1))

    request.refresh_from_db()
    assert (expired, request.state) == (1, "expired")
    assert audit_since(mark) == [
        state_changed("system", "model-m", "approved", "expired", steps=2, reason="approval lifetime ended")
    ]
    assert _deliveries("approval_expired") == [
        ("approval_expired", ["owner-a@example.org"], "[modelgov] Approval expired: model-m v1")
    ]


def test_expiry_runs_twice_without_effect(cast: Any) -> None:
    request = _approved(cast)
    now = request.expires_at + timedelta(seconds=1)
    approval_expire_due(now=now)
    before = snapshot()

    assert approval_expire_due(now=now) == 0
    assert approval_expire_due(now=now + timedelta(days=3)) == 0
    assert snapshot() == before


def test_not_expired_one_second_early(cast: Any) -> None:
    request = _approved(cast)
    request.refresh_from_db()
    approval_expire_due(now=request.expires_at - timedelta(days=1))
    before = snapshot()

    assert approval_expire_due(now=request.expires_at - timedelta(seconds=1)) == 0
    assert snapshot() == before


def test_conditional_approval_expires_too(cast: Any) -> None:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    request = decide(
        request,
        cast.officer,
        decision="approve_with_conditions",
        conditions="Publish the model card",
        due_date=timezone.now().date() + timedelta(days=14),
    )
    assert request.expires_at is not None
    mark = audit_mark()

    assert approval_expire_due(now=request.expires_at + timedelta(seconds=1)) == 1

    assert audit_since(mark) == [
        state_changed(
            "system", "model-m", "approved_with_conditions", "expired", steps=2, reason="approval lifetime ended"
        )
    ]


def test_reminder_29_days_before_expiry_is_queued_once(cast: Any) -> None:
    request = _approved(cast)
    now = request.expires_at - timedelta(days=29)
    mark = audit_mark()

    assert approval_expire_due(now=now) == 0
    assert approval_expire_due(now=now) == 0
    assert approval_expire_due(now=now + timedelta(days=1)) == 0

    request.refresh_from_db()
    assert (request.state, request.expiry_reminder_sent_at) == ("approved", now)
    assert _deliveries("approval_expiring") == [
        (
            "approval_expiring",
            ["owner-a@example.org"],
            f"[modelgov] Approval ends {request.expires_at.date().isoformat()}: model-m v1",
        )
    ]
    # A reminder changes no state of the request: nothing is logged.
    assert audit_since(mark) == []


def test_no_reminder_31_days_before_expiry(cast: Any) -> None:
    request = _approved(cast)
    before = snapshot()

    assert approval_expire_due(now=request.expires_at - timedelta(days=31)) == 0

    assert snapshot() == before


def test_reminder_then_expiry(cast: Any) -> None:
    request = _approved(cast)
    approval_expire_due(now=request.expires_at - timedelta(days=29))

    assert approval_expire_due(now=request.expires_at + timedelta(seconds=1)) == 1

    assert list(EmailDelivery.objects.filter(approval_request=request).order_by("id").values_list("template", "to"))[
        -2:
    ] == [("approval_expiring", ["owner-a@example.org"]), ("approval_expired", ["owner-a@example.org"])]
