"""SMTP down: the delivery is retried five times, then recorded as failed; the approval is untouched."""

from typing import Any

from governance.models import ApprovalPolicy, EmailDelivery

from .support import audit_mark, audit_since, decide, open_request, requested, state_changed, step_decided, submitted


def _smtp_down(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.MODELGOV = {**settings.MODELGOV, "EMAIL_RETRY_BASE_SECONDS": 0}


def test_submission_with_smtp_down(
    cast: Any, settings: Any, closed_port: int, django_capture_on_commit_callbacks: Any
) -> None:
    _smtp_down(settings, closed_port)
    mark = audit_mark()

    with django_capture_on_commit_callbacks(execute=True):
        request = open_request(cast.dev_a, cast.version_m)

    delivery = EmailDelivery.objects.get(approval_request=request)
    assert (delivery.template, delivery.to, delivery.state, delivery.attempts, delivery.sent_at) == (
        "approval_step_open",
        ["validator-2@example.org", "validator@example.org"],
        "failed",
        6,
        None,
    )
    assert delivery.last_error.startswith("ConnectionRefusedError: [Errno 111]"), delivery.last_error
    request.refresh_from_db()
    assert (request.state, request.current_step) == ("in_review", 0)
    policy = ApprovalPolicy.objects.get(risk_tier="medium", target_stage="staging", version=1)
    assert audit_since(mark) == [
        requested("dev-a", cast.version_m, "staging", policy),
        *submitted("dev-a", "model-m", steps=2),
    ]


def test_final_decision_with_smtp_down(
    cast: Any, settings: Any, closed_port: int, django_capture_on_commit_callbacks: Any
) -> None:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    _smtp_down(settings, closed_port)
    mark = audit_mark()

    with django_capture_on_commit_callbacks(execute=True):
        request = decide(request, cast.officer, decision="reject", comment="Missing monitoring plan.")

    delivery = EmailDelivery.objects.get(template="approval_decided")
    assert (delivery.state, delivery.attempts) == ("failed", 6)
    assert delivery.last_error.startswith("ConnectionRefusedError:"), delivery.last_error
    request.refresh_from_db()
    assert request.state == "rejected"
    assert audit_since(mark) == [
        step_decided("officer", request, step=2, decision="reject", comment="Missing monitoring plan."),
        state_changed("officer", "model-m", "in_review", "rejected", steps=2, reason="Missing monitoring plan."),
    ]
