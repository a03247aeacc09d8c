"""Helpers of the approval tests: exact audit-log expectations and "nothing was written" snapshots."""

import email
import email.policy
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from typing import Any

import kombu.pools
import pytest
from django.conf import settings

from governance.approvals.services import approval_request_create, approval_request_decide
from governance.choices import Decision
from governance.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    AuditEntry,
    EmailDelivery,
)
from registry.models import ModelVersion

VALIDATION = {"name": "Independent validation", "role": "validator", "quorum": 1}
VALIDATION_BY_TWO = {"name": "Independent validation", "role": "validator", "quorum": 2}
SIGN_OFF = {"name": "Compliance sign-off", "role": "compliance_officer", "quorum": 1}
HIGH_STEPS = [VALIDATION_BY_TWO, SIGN_OFF]
MEDIUM_STEPS = [VALIDATION, SIGN_OFF]
LOW_STEPS = [VALIDATION]

Audit = tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]


def audit_mark() -> int:
    """The id of the last audit entry: what a test wrote is everything after it."""
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def audit_since(mark: int) -> list[Audit]:
    """(event_type, actor_name, model_name, before, after) of every entry written after ``mark``."""
    return [
        (entry.event_type, entry.actor_name, entry.model_name, entry.before, entry.after)
        for entry in AuditEntry.objects.filter(id__gt=mark).order_by("id")
    ]


def requested(actor: str, version: ModelVersion, stage: str, policy: ApprovalPolicy, comment: str = "") -> Audit:
    model = version.model.name
    return (
        "APPROVAL_REQUESTED",
        actor,
        model,
        None,
        {
            "model": model,
            "version": version.version,
            "target_stage": stage,
            "artifact_digest": version.artifact_digest,
            "policy": {"risk_tier": policy.risk_tier, "version": policy.version, "steps": policy.steps},
            "comment": comment,
        },
    )


def state_changed(
    actor: str, model: str, old: str, new: str, *, steps: int, step: int | None = None, reason: str = ""
) -> Audit:
    return (
        "APPROVAL_STATE_CHANGED",
        actor,
        model,
        {"state": old},
        {"state": new, "step": step, "steps": steps, "reason": reason},
    )


def submitted(actor: str, model: str, *, steps: int) -> list[Audit]:
    """The two entries of a submission: draft → submitted → in_review at step 1."""
    return [
        state_changed(actor, model, "draft", "submitted", steps=steps),
        state_changed(actor, model, "submitted", "in_review", steps=steps, step=1),
    ]


def step_decided(
    actor: str,
    request: ApprovalRequest,
    *,
    step: int,
    decision: str = "approve",
    comment: str = "",
    conditions: str = "",
    due_date: date | None = None,
) -> Audit:
    spec = request.policy.steps[step - 1]
    return (
        "APPROVAL_STEP_DECIDED",
        actor,
        request.model_version.model.name,
        None,
        {
            "step": step,
            "step_name": spec["name"],
            "role": spec["role"],
            "decision": decision,
            "comment": comment,
            "conditions": conditions,
            "due_date": due_date.isoformat() if due_date else None,
            "artifact_digest": request.artifact_digest,
        },
    )


def refused(actor: str, model: str, *, rule: str, step: int, state: str = "in_review") -> Audit:
    return ("SEPARATION_OF_DUTIES_REFUSED", actor, model, None, {"rule": rule, "step": step, "state": state})


def snapshot() -> dict[str, Any]:
    """Everything an approval action may write; equal before and after means nothing was written."""
    return {
        "audit": list(AuditEntry.objects.order_by("id").values_list("id", flat=True)),
        "requests": list(
            ApprovalRequest.objects.order_by("id").values_list(
                "id",
                "state",
                "current_step",
                "comment",
                "conditions",
                "conditions_due",
                "conditions_met_at",
                "decided_at",
                "expires_at",
                "expiry_reminder_sent_at",
                "superseded_by",
            )
        ),
        "decisions": list(ApprovalDecision.objects.order_by("id").values_list("id", flat=True)),
        "emails": list(EmailDelivery.objects.order_by("id").values_list("id", "state", "attempts")),
        "policies": list(ApprovalPolicy.objects.order_by("id").values_list("id", "version", "is_current")),
    }


def open_request(actor: Any, version: ModelVersion, stage: str = "staging", *, submit: bool = True) -> ApprovalRequest:
    return approval_request_create(actor=actor, model_version=version, target_stage=stage, submit=submit)


def decide(request: ApprovalRequest, *actors: Any, decision: str = Decision.APPROVE, **fields: Any) -> ApprovalRequest:
    """Each of ``actors`` records ``decision`` on the request's open step, through the service."""
    for actor in actors:
        request = approval_request_decide(actor=actor, request=request, decision=decision, **fields)
    return request


def admin_link(request: ApprovalRequest) -> str:
    return f"{settings.MODELGOV['SITE_URL'].rstrip('/')}/admin/governance/approvalrequest/{request.pk}/change/"


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        # A long encoded subject is folded onto a continuation line; unfolding leaves a leading space.
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")


def parse_received(mail_from: str, rcpt_tos: list[str], content: bytes) -> Received:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Received(mail_from, list(rcpt_tos), message)


def wait_until(condition: Callable[[], bool], *, timeout: float = 30, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def approvers_of(cast: Any, request: ApprovalRequest) -> list[Any]:
    """The people the cast sends to the request's open step: as many as its quorum needs."""
    step = request.policy.steps[request.current_step]
    people = [cast.validator, cast.validator2] if step["role"] == "validator" else [cast.officer]
    return people[: step["quorum"]]


def approve_all(cast: Any, request: ApprovalRequest) -> ApprovalRequest:
    """Approve every step of an in-review request, through the services."""
    while request.state == "in_review":
        request = decide(request, *approvers_of(cast, request))
    return request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset_producer_pools(app: Any) -> None:
    """Drop the connection and producer pools, so the next publish connects to the new broker."""
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def switch_celery_app(app: Any, *, broker_url: str | None, eager: bool) -> None:
    """Point this process's Celery app at ``broker_url`` (or back to eager mode).

    The app reads Django settings with the CELERY namespace, so its keys are the namespaced ones:
    ``app.conf.update(broker_url=...)`` would be shadowed by CELERY_BROKER_URL and change nothing.
    """
    _reset_producer_pools(app)
    app.conf.update(CELERY_BROKER_URL=broker_url, CELERY_TASK_ALWAYS_EAGER=eager)
    assert (app.conf.broker_url, app.conf.task_always_eager) == (broker_url, eager)
