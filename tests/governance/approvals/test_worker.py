"""Approval emails through a real Celery worker on the Redis broker and a real SMTP server."""

from typing import Any

from governance.models import ApprovalPolicy, ApprovalRequest, EmailDelivery

from .support import (
    admin_link,
    audit_mark,
    audit_since,
    free_port,
    open_request,
    requested,
    submitted,
    switch_celery_app,
    wait_until,
)


def test_worker_sends_the_approvers_email(celery_worker: Any, smtp_server: Any, cast: Any) -> None:
    celery_worker(smtp_server.port)
    mark = audit_mark()

    request = open_request(cast.dev_a, cast.version_a)

    delivery = EmailDelivery.objects.get(approval_request=request)
    wait_until(
        lambda: EmailDelivery.objects.filter(pk=delivery.pk, state="sent").exists() and len(smtp_server.received) >= 1,
        timeout=30,
        what="the worker to send the approvers' email",
    )
    [message] = smtp_server.received
    assert (message.rcpt_tos, message.subject) == (
        ["validator-2@example.org", "validator@example.org"],
        "[modelgov] Approval needed: model-a v1 → staging",
    )
    assert f"Open request #{request.pk}: {admin_link(request)}\n" in message.text
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    policy = ApprovalPolicy.objects.get(risk_tier="high", target_stage="staging", version=1)
    assert audit_since(mark) == [
        requested("dev-a", cast.version_a, "staging", policy),
        *submitted("dev-a", "model-a", steps=2),
    ]


def test_worker_retries_then_fails_when_smtp_is_down(celery_worker: Any, closed_port: int, cast: Any) -> None:
    celery_worker(closed_port)
    mark = audit_mark()

    request = open_request(cast.dev_a, cast.version_m)

    delivery = EmailDelivery.objects.get(approval_request=request)
    wait_until(
        lambda: EmailDelivery.objects.filter(pk=delivery.pk, state="failed").exists(),
        timeout=30,
        what="the worker to give up on the delivery",
    )
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.sent_at) == ("failed", 6, None)
    assert delivery.last_error.startswith("ConnectionRefusedError: [Errno 111]"), delivery.last_error
    request.refresh_from_db()
    assert (request.state, request.current_step) == ("in_review", 0)
    policy = ApprovalPolicy.objects.get(risk_tier="medium", target_stage="staging", version=1)
    assert audit_since(mark) == [
        requested("dev-a", cast.version_m, "staging", policy),
        *submitted("dev-a", "model-m", steps=2),
    ]


def test_broker_down_at_commit_does_not_fail_the_committed_request(transactional_db: None, cast: Any, api: Any) -> None:
    """The request is committed before the email task is queued; a broker outage then costs the
    email (it stays queued), never the answer to the caller."""
    from config.celery import app

    client = api(cast.dev_a)
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    switch_celery_app(app, broker_url=f"redis://127.0.0.1:{free_port()}/15", eager=False)
    try:
        response = client.post(
            "/api/v1/approvals/", {"model": "model-m", "version": 1, "target_stage": "staging"}, format="json"
        )
    finally:
        switch_celery_app(app, broker_url=previous[0], eager=previous[1])

    assert (response.status_code, response.json()["state"]) == (201, "in_review")
    request = ApprovalRequest.objects.get()
    assert list(EmailDelivery.objects.filter(approval_request=request).values_list("state", "attempts")) == [
        ("queued", 0)
    ]
