"""Approval emails through a real SMTP server on loopback. Tasks run eagerly (no broker in tests),
after commit: django_capture_on_commit_callbacks(execute=True) plays the commit."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from governance.approvals.services import approval_expire_due
from governance.choices import Role
from governance.models import ApprovalRequest, EmailDelivery
from governance.tasks import email_delivery_send_task
from tests.factories import UserFactory, role

from .support import Received, admin_link, approve_all, decide, open_request


def assert_sent(received: Received, request: ApprovalRequest, *, to: list[str], subject: str, says: str) -> None:
    link = admin_link(request)
    assert (received.mail_from, received.rcpt_tos, received.subject) == (settings.DEFAULT_FROM_EMAIL, to, subject)
    assert str(received.message["To"]) == ", ".join(to)
    assert says in received.text
    assert f"Open request #{request.pk}: {link}\n" in received.text
    assert f'<a href="{link}">Open request #{request.pk} in modelgov</a>' in received.html


def assert_delivered(request: ApprovalRequest, expected: list[tuple[str, list[str]]]) -> None:
    """The request's deliveries, in order, are ``(template, to)``, each sent on its first attempt."""
    rows = list(
        EmailDelivery.objects.filter(approval_request=request)
        .order_by("id")
        .values_list("template", "to", "state", "attempts", "last_error")
    )
    assert rows == [(template, to, "sent", 1, "") for template, to in expected]
    assert EmailDelivery.objects.filter(approval_request=request, sent_at__isnull=True).count() == 0


def test_submission_emails_the_first_steps_eligible_approvers(
    cast: Any, smtp: Any, team_validator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    UserFactory(username="validator-gone", groups=[role(Role.VALIDATOR)], is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        request = open_request(cast.dev_a, cast.version_a)

    # Not the requester (dev-a), the owner, the CI user, the team's own validator, an inactive
    # validator or the officers.
    [message] = smtp.received
    assert_sent(
        message,
        request,
        to=["validator-2@example.org", "validator@example.org"],
        subject="[modelgov] Approval needed: model-a v1 → staging",
        says="Your decision is needed on step 1 of 2 (Independent validation) of a promotion request.",
    )
    assert str(message.message["Message-ID"]) == f"<approval.{request.pk}.step.0.approvers@modelgov>"
    assert f"Artifact digest: {cast.version_a.artifact_digest}" in message.text
    assert_delivered(request, [("approval_step_open", ["validator-2@example.org", "validator@example.org"])])


def test_repeated_task_run_for_a_sent_delivery_sends_nothing(
    cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = open_request(cast.dev_a, cast.version_m)
    delivery = EmailDelivery.objects.get(approval_request=request)
    assert (delivery.state, delivery.attempts, len(smtp.received)) == ("sent", 1, 1)

    result = email_delivery_send_task.apply(args=[delivery.pk])

    assert result.get() is False
    assert len(smtp.received) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_completed_step_emails_the_next_approvers_and_the_requester(
    cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = open_request(cast.dev_a, cast.version_m)
    with django_capture_on_commit_callbacks(execute=True):
        request = decide(request, cast.validator)

    _, to_officers, to_requester = smtp.received
    assert_sent(
        to_officers,
        request,
        to=["officer@example.org"],
        subject="[modelgov] Approval needed: model-m v1 → staging",
        says="Your decision is needed on step 2 of 2 (Compliance sign-off) of a promotion request.",
    )
    assert_sent(
        to_requester,
        request,
        to=["dev-a@example.org"],
        subject="[modelgov] model-m v1: step 1 approved",
        says="Your promotion request moved on: step 2 of 2 (Compliance sign-off) is now open.",
    )
    assert_delivered(
        request,
        [
            ("approval_step_open", ["validator-2@example.org", "validator@example.org"]),
            ("approval_step_open", ["officer@example.org"]),
            ("approval_progress", ["dev-a@example.org"]),
        ],
    )


def test_final_decision_emails_the_owner_and_the_requester(
    cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)

    with django_capture_on_commit_callbacks(execute=True):
        request = decide(request, cast.officer)

    [message] = smtp.received
    assert request.expires_at is not None
    assert_sent(
        message,
        request,
        to=["dev-a@example.org", "owner-a@example.org"],
        subject="[modelgov] model-m v1 → staging: approved",
        says=(
            f"The promotion request was decided: approved.\n\nThe approval is valid until {request.expires_at.date()}."
        ),
    )
    delivery = EmailDelivery.objects.get(template="approval_decided")
    assert (delivery.to, delivery.state, delivery.attempts) == (["dev-a@example.org", "owner-a@example.org"], "sent", 1)


def test_rejection_emails_the_owner_and_the_requester(
    cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    request = open_request(cast.dev_a, cast.version_m)

    with django_capture_on_commit_callbacks(execute=True):
        request = decide(request, cast.validator, decision="reject", comment="Leaky features.")

    [message] = smtp.received
    assert_sent(
        message,
        request,
        to=["dev-a@example.org", "owner-a@example.org"],
        subject="[modelgov] model-m v1 → staging: rejected",
        says="The promotion request was decided: rejected.",
    )


def test_plain_text_email_shows_the_conditions_verbatim(
    cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any
) -> None:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    due = timezone.now().date() + timedelta(days=30)
    conditions = 'Re-run the audit on Q3 & Q4 data; report the "worst-group" recall (target > 0.8)'

    with django_capture_on_commit_callbacks(execute=True):
        request = decide(request, cast.officer, decision="approve_with_conditions", conditions=conditions, due_date=due)

    [message] = smtp.received
    assert message.subject == "[modelgov] model-m v1 → staging: approved_with_conditions"
    assert f"Conditions, due {due.isoformat()}:\n- {conditions}\n" in message.text


def test_expiry_emails_the_owner(cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any) -> None:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    assert request.expires_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        approval_expire_due(now=request.expires_at + timedelta(seconds=1))

    [message] = smtp.received
    assert_sent(
        message,
        request,
        to=["owner-a@example.org"],
        subject="[modelgov] Approval expired: model-m v1",
        says="This approval has expired. The promotion gate no longer accepts it; request revalidation.",
    )
    delivery = EmailDelivery.objects.get(template="approval_expired")
    assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_expiry_reminder_emails_the_owner_once(cast: Any, smtp: Any, django_capture_on_commit_callbacks: Any) -> None:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    assert request.expires_at is not None
    ends = request.expires_at.date().isoformat()

    with django_capture_on_commit_callbacks(execute=True):
        approval_expire_due(now=request.expires_at - timedelta(days=29))
    with django_capture_on_commit_callbacks(execute=True):
        approval_expire_due(now=request.expires_at - timedelta(days=28))

    [message] = smtp.received
    assert_sent(
        message,
        request,
        to=["owner-a@example.org"],
        subject=f"[modelgov] Approval ends {ends}: model-m v1",
        says=f"This approval expires on {ends}. Request revalidation before then to keep the model in staging.",
    )
    delivery = EmailDelivery.objects.get(template="approval_expiring")
    assert (delivery.state, delivery.attempts) == ("sent", 1)
