"""Celery tasks of the governance app: thin wrappers that call one service, safe to run twice."""

import smtplib

from celery import Task, shared_task
from django.conf import settings

from governance.approvals.emails import email_delivery_fail, email_delivery_send
from governance.approvals.services import approval_expire_due
from governance.audit.services import audit_checkpoint_create, audit_log_integrate
from governance.gate.notify import plugins_notify


@shared_task(acks_late=True)
def audit_log_integrate_task() -> int | None:
    """Sweep: integrate entries whose after-commit integration lost the lock race."""
    return audit_log_integrate(wait=True)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def audit_checkpoint_create_task() -> int:
    """Sign a checkpoint of the current log (a no-op when nothing was added since the last one)."""
    return audit_checkpoint_create().size


@shared_task(bind=True, acks_late=True, max_retries=5)
def email_delivery_send_task(self: Task, delivery_id: int) -> bool:
    """Send one queued email; retried with exponential backoff, then recorded as failed."""
    try:
        return email_delivery_send(delivery_id=delivery_id)
    except (OSError, smtplib.SMTPException) as exc:
        if self.request.retries >= self.max_retries:
            email_delivery_fail(delivery_id=delivery_id, error=f"{type(exc).__name__}: {exc}")
            return False
        base = settings.MODELGOV["EMAIL_RETRY_BASE_SECONDS"]
        raise self.retry(exc=exc, countdown=base * (2**self.request.retries)) from None


@shared_task(acks_late=True)
def approval_expire_task() -> int:
    """Mark lapsed approvals expired and send expiry reminders (safe to run any number of times)."""
    return approval_expire_due()


@shared_task(acks_late=True)
def plugin_notify_task(hook: str, payload: dict, subject_label: str, subject_pk: str) -> list[str]:
    """Deliver a notification hook to every plugin (failures are logged, never raised)."""
    return plugins_notify(hook=hook, payload=payload, subject_label=subject_label, subject_pk=subject_pk)
