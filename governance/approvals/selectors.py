"""Reads of the approval workflow, including the gate's question: is this version approved now?"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from governance.approvals.services import duty_conflict
from governance.choices import GRANTED_STATES, ApprovalState
from governance.errors import ApprovalNotFound
from governance.models import ApprovalDecision, ApprovalRequest
from registry.models import ModelVersion, RegisteredModel


def approval_request_list(*, user: Any) -> QuerySet[ApprovalRequest]:
    """Requests about models ``user`` may view or approve (all of them for whole-inventory readers).

    A validator may hold ``approve`` on a model without ``view``: the requests it must decide are still its to see.
    """
    viewable = get_objects_for_user(
        user,
        ["registry.view_registeredmodel", "registry.approve"],
        klass=RegisteredModel,
        any_perm=True,
        accept_global_perms=True,
    ).values("pk")
    return (
        ApprovalRequest.objects.filter(model_version__model__in=viewable)
        .select_related("model_version__model", "policy", "requester")
        .prefetch_related("decisions__approver")
        .order_by("-created_at")
    )


def approval_request_waiting_for(*, user: Any) -> QuerySet[ApprovalRequest]:
    """Open requests whose current step ``user`` holds the role for and has not yet decided."""
    groups = dict(user.groups.values_list("pk", "name"))
    roles = set(groups.values())
    decided = ApprovalDecision.objects.filter(request=OuterRef("pk"), approver=user)
    candidates = approval_request_list(user=user).filter(state=ApprovalState.IN_REVIEW).exclude(Exists(decided))
    approvable = set(
        get_objects_for_user(user, "registry.approve", klass=RegisteredModel, accept_global_perms=True).values_list(
            "pk", flat=True
        )
    )
    # The facts the rules need, loaded once for all candidates (already-decided ones are excluded above).
    wanted = [
        request.pk
        for request in candidates.prefetch_related(None)
        if duty_conflict(
            actor_id=user.pk,
            group_ids=set(groups),
            roles=roles,
            may_approve=request.model_version.model_id in approvable,
            decided=False,
            request=request,
            step=request.current_step,
        )
        is None
    ]
    return candidates.filter(pk__in=wanted)


def approval_request_get(*, pk: int, user: Any) -> ApprovalRequest:
    found = approval_request_list(user=user).filter(pk=pk).first()
    if found is None:
        raise ApprovalNotFound(f"No approval request {pk}.", extra={"request": pk})
    return found


@dataclass(frozen=True)
class ApprovalStatus:
    """The gate's view: ``approved`` or, if not, ``reason`` (a stable code) and ``detail``."""

    approved: bool
    reason: str
    detail: str
    request_id: int | None = None
    policy_version: int | None = None
    expires_at: str | None = None


class ApprovalRow(NamedTuple):
    """What the gate reads of one approval request."""

    pk: int
    state: str
    artifact_digest: str
    created_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    conditions_due: date | None
    policy_version: int | None


def approval_rows(*, version: ModelVersion, stage: str) -> list[ApprovalRow]:
    """Every request about ``version`` for ``stage``: a version has a handful per stage (one, and one
    more per refusal), read with a plain filter, which the gate asks on every decision and Django
    compiles far faster than an ordering by expressions."""
    rows = (
        ApprovalRequest.objects.filter(model_version=version, target_stage=stage)
        .order_by()
        .values_list(*ApprovalRow._fields[:-1], "policy__version")
    )
    return [ApprovalRow._make(row) for row in rows]


def approval_status_for(*, version: ModelVersion, stage: str) -> ApprovalStatus:
    """Is ``version`` approved for ``stage`` now: bound to its digest, not expired, conditions met?"""
    return approval_status_from(
        rows=approval_rows(version=version, stage=stage), artifact_digest=version.artifact_digest, stage=stage
    )


def approval_status_from(*, rows: list[ApprovalRow], artifact_digest: str, stage: str) -> ApprovalStatus:
    """The status that ``rows`` (every request about one version for ``stage``) give a version whose
    registered digest is ``artifact_digest``: the latest granted request (by decision time) if there
    is one, else the latest request."""
    now = timezone.now()
    granted = [request for request in rows if request.state in GRANTED_STATES]
    latest = (
        max(granted, key=lambda request: (request.decided_at or request.created_at, request.created_at, request.pk))
        if granted
        else max(rows, key=lambda request: (request.created_at, request.pk), default=None)
    )
    if latest is None:
        return ApprovalStatus(False, "no_request", f"No approval was requested for {stage}.")
    if latest.state not in GRANTED_STATES:
        return ApprovalStatus(
            False,
            f"request_{latest.state}",
            f"The latest request is {latest.state}.",
            latest.pk,
            latest.policy_version,
        )
    expires = latest.expires_at.isoformat() if latest.expires_at else None

    def status(approved: bool, reason: str, detail: str) -> ApprovalStatus:
        return ApprovalStatus(approved, reason, detail, latest.pk, latest.policy_version, expires)

    if latest.artifact_digest != artifact_digest:
        return status(False, "digest_mismatch", "The approval is bound to another artifact.")
    if latest.expires_at is None or latest.expires_at <= now:
        return status(False, "expired", f"The approval expired at {expires}.")
    if (
        latest.state == ApprovalState.APPROVED_WITH_CONDITIONS
        and latest.conditions_due is not None
        and latest.conditions_due < now.date()
    ):
        return status(
            False,
            "conditions_overdue",
            f"The approval's conditions were due {latest.conditions_due.isoformat()} and are not recorded as met.",
        )
    return status(True, "approved", f"Approved until {expires}.")
