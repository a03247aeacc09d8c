"""Reads of the approval workflow, including the gate's question: is this version approved now?"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from governance.choices import ApprovalState, Role
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
    # The separation-of-duties rules of services.separation_of_duties_problem, evaluated on rows already
    # loaded (one query for the candidates, one for the permission), instead of several queries per request.
    wanted = []
    for request in candidates.prefetch_related(None):
        version = request.model_version
        model = version.model
        role = request.policy.steps[request.current_step]["role"]
        if (
            role in roles
            and user.pk not in (request.requester_id, model.owner_id, version.created_by_id)
            and not (role == Role.VALIDATOR and model.team_id in groups)
            and model.pk in approvable
        ):
            wanted.append(request.pk)
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


# The granted states are ApprovalState.APPROVED and APPROVED_WITH_CONDITIONS (a test holds them so).
_STATUS_SQL = """
SELECT r.id, r.state, r.artifact_digest, r.expires_at, r.conditions_due, p.version,
       r.state IN ('approved', 'approved_with_conditions') AS granted
FROM governance_approvalrequest r JOIN governance_approvalpolicy p ON p.id = r.policy_id
WHERE r.model_version_id = %s AND r.target_stage = %s
ORDER BY granted DESC, CASE WHEN r.state IN ('approved', 'approved_with_conditions') THEN r.decided_at END DESC,
         r.created_at DESC
LIMIT 1
"""


@dataclass(frozen=True)
class _Granted:
    pk: int
    state: str
    artifact_digest: str
    expires_at: datetime | None
    conditions_due: date | None
    policy_version: int


def _aware(value: Any) -> datetime | None:
    # SQLite (the demo) hands raw datetimes back as naive UTC text; PostgreSQL as aware datetimes.
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def approval_status_for(*, version: ModelVersion, stage: str) -> ApprovalStatus:
    """Is ``version`` approved for ``stage`` now: bound to its digest, not expired, conditions met?"""
    now = timezone.now()
    # One fixed statement on the gate's path: the latest granted request (by decision time) if there is
    # one, else the latest request of any state (by creation), with its policy's version.
    with connection.cursor() as cursor:
        cursor.execute(_STATUS_SQL, [version.pk, stage])
        row = cursor.fetchone()
    if row is None:
        return ApprovalStatus(False, "no_request", f"No approval was requested for {stage}.")
    pk, state, digest, expires_at, conditions_due, policy_version, is_granted = row
    if not is_granted:
        return ApprovalStatus(False, f"request_{state}", f"The latest request is {state}.", pk, policy_version)
    granted = _Granted(pk, state, digest, _aware(expires_at), _date(conditions_due), policy_version)
    expires = granted.expires_at.isoformat() if granted.expires_at else None

    def status(approved: bool, reason: str, detail: str) -> ApprovalStatus:
        return ApprovalStatus(approved, reason, detail, granted.pk, granted.policy_version, expires)

    if granted.artifact_digest != version.artifact_digest:
        return status(False, "digest_mismatch", "The approval is bound to another artifact.")
    if granted.expires_at is None or granted.expires_at <= now:
        return status(False, "expired", f"The approval expired at {expires}.")
    if (
        granted.state == ApprovalState.APPROVED_WITH_CONDITIONS
        and granted.conditions_due is not None
        and granted.conditions_due < now.date()
    ):
        return status(
            False,
            "conditions_overdue",
            f"The approval's conditions were due {granted.conditions_due.isoformat()} and are not recorded as met.",
        )
    return status(True, "approved", f"Approved until {expires}.")
