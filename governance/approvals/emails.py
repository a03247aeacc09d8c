"""Approval emails: queued as EmailDelivery rows inside the transaction that causes them, sent by a
Celery task after commit. A delivery's ``key`` makes queuing idempotent; the task never sends a
delivery that is already marked sent."""

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core.transaction import after_commit
from governance.choices import EmailState
from governance.models import ApprovalRequest, EmailDelivery

logger = logging.getLogger(__name__)


def request_admin_url(request: ApprovalRequest) -> str:
    base = str(settings.MODELGOV["SITE_URL"]).rstrip("/")
    return f"{base}/admin/governance/approvalrequest/{request.pk}/change/"


def email_queue(
    *,
    key: str,
    template: str,
    to: list[str],
    subject: str,
    request: ApprovalRequest,
    context: dict[str, Any],
) -> EmailDelivery | None:
    """Queue one email (once per ``key``) and send it after the surrounding transaction commits."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return None
    delivery, created = EmailDelivery.objects.get_or_create(
        key=key,
        defaults={
            "template": template,
            "to": recipients,
            "subject": subject[:300],
            "context": {**context, "link": request_admin_url(request)},
            "approval_request": request,
        },
    )
    if created:
        from governance.tasks import email_delivery_send_task

        after_commit(email_delivery_send_task.delay, delivery.pk)
    return delivery


def email_delivery_send(*, delivery_id: int) -> bool:
    """Send a queued delivery. Returns False when it was already sent (a retried or repeated task).
    SMTP errors propagate, after the attempt and the error are recorded, so the task can retry."""
    with transaction.atomic():
        delivery = EmailDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.state == EmailState.SENT:
            return False
        delivery.attempts += 1
        delivery.save(update_fields=["attempts"])
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=render_to_string(f"emails/{delivery.template}.txt", delivery.context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=delivery.to,
        # One Message-ID per delivery: a receiving system can recognise a duplicate.
        headers={"Message-ID": f"<{delivery.key.replace(':', '.')}@modelgov>"},
    )
    message.attach_alternative(render_to_string(f"emails/{delivery.template}.html", delivery.context), "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any transport error: recorded, then re-raised for the task to retry
        EmailDelivery.objects.filter(pk=delivery_id).update(last_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    EmailDelivery.objects.filter(pk=delivery_id).update(state=EmailState.SENT, sent_at=timezone.now(), last_error="")
    return True


def email_delivery_fail(*, delivery_id: int, error: str) -> None:
    """Give up on a delivery after its last retry; the approval it belongs to is untouched."""
    EmailDelivery.objects.filter(pk=delivery_id).exclude(state=EmailState.SENT).update(
        state=EmailState.FAILED, last_error=error[:2000]
    )
    logger.error("email delivery %s failed for good: %s", delivery_id, error)
