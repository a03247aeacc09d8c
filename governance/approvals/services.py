"""Writes of the approval workflow. Every transition happens here, under a row lock, with its audit
entry in the same transaction; emails are queued in that transaction and sent after commit."""

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import PermissionDenied
from governance.approvals.emails import email_queue
from governance.audit.services import audit_record
from governance.choices import (
    GRANTED_STATES,
    TRANSITIONS,
    ApprovalState,
    AuditEvent,
    Decision,
    Role,
)
from governance.errors import (
    CommentRequired,
    ConditionsRequired,
    DuplicateRequest,
    InvalidPolicy,
    InvalidStage,
    InvalidTransition,
    NoPolicy,
    SeparationOfDuties,
)
from governance.gate.notify import notify_after_commit
from governance.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest, AuditEntry
from hooks.events import ApprovalDecided
from registry.choices import ModelPermission, ModelStatus, RiskTier, Stage
from registry.errors import ModelRetired
from registry.lineage.services import lineage_snapshot_take
from registry.models import ModelVersion
from registry.permissions import user_has_model_perm

PROMOTION_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def _model_of(request: ApprovalRequest) -> Any:
    return request.model_version.model


def _lock(request: ApprovalRequest) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("model_version__model__owner", "model_version__created_by", "policy", "requester")
        .get(pk=request.pk)
    )


def _transition(request: ApprovalRequest, to_state: str, *, actor: Any, reason: str = "") -> AuditEntry:
    """Move a locked request to ``to_state`` and log it; anything not in TRANSITIONS is a 409."""
    from_state = request.state
    if to_state not in TRANSITIONS[from_state]:
        raise InvalidTransition(
            f"A request that is {from_state} cannot become {to_state}.",
            extra={"request": request.pk, "from": from_state, "to": to_state},
        )
    request.state = to_state
    request.save()
    steps = len(request.policy.steps)
    return audit_record(
        actor=actor,
        event_type=AuditEvent.APPROVAL_STATE_CHANGED,
        subject=request,
        model_name=_model_of(request).name,
        before={"state": from_state},
        after={
            "state": to_state,
            "step": request.current_step + 1 if to_state == ApprovalState.IN_REVIEW else None,
            "steps": steps,
            "reason": reason,
        },
    )


# --- who may decide -------------------------------------------------------------------------------------------


def separation_of_duties_problem(*, actor: Any, request: ApprovalRequest, step: int) -> tuple[str, str] | None:
    """The rule ``actor`` would break by deciding ``step`` of ``request``, as (rule, message), or None."""
    model = _model_of(request)
    groups = dict(actor.groups.values_list("pk", "name"))
    return duty_conflict(
        actor_id=actor.pk,
        group_ids=set(groups),
        roles=set(groups.values()),
        may_approve=user_has_model_perm(actor, ModelPermission.APPROVE, model),
        decided=request.decisions.filter(approver=actor).exists(),
        request=request,
        step=step,
    )


def duty_conflict(
    *,
    actor_id: int,
    group_ids: set[int],
    roles: set[str],
    may_approve: bool,
    decided: bool,
    request: ApprovalRequest,
    step: int,
) -> tuple[str, str] | None:
    """The separation-of-duties rules on facts already known about the actor (its groups and roles,
    its approve permission on the model, whether it already decided a step of this request): the one
    statement of the rules, for the service's check of one person and for the approvers' queue, which
    loads the facts for many requests at once."""
    version = request.model_version
    model = version.model
    role = request.policy.steps[step]["role"]
    if actor_id == request.requester_id:
        return "requester_cannot_approve", "The requester of a promotion never approves it."
    if actor_id == model.owner_id:
        return "owner_cannot_approve", "A model's owner never approves its promotion."
    if actor_id == version.created_by_id:
        return "creator_cannot_approve", "The creator of a version never approves its promotion."
    if role == Role.VALIDATOR and model.team_id in group_ids:
        return "developer_cannot_validate", "A member of the model's team never validates it."
    if decided:
        return "one_step_per_person", "One person decides at most one step of a request."
    if role not in roles:
        return "missing_role", f"This step is decided by the {role} role, which you do not hold."
    if not may_approve:
        return "missing_approve_permission", "You do not hold the approve permission on this model."
    return None


def _refuse(*, actor: Any, request: ApprovalRequest, rule: str, message: str) -> SeparationOfDuties:
    """Record a refused decision (a standalone entry: committed at once when no transaction is open),
    and return the error to raise."""
    audit_record(
        actor=actor,
        event_type=AuditEvent.SEPARATION_OF_DUTIES_REFUSED,
        subject=request,
        model_name=_model_of(request).name,
        after={"rule": rule, "step": request.current_step + 1, "state": request.state},
        standalone=True,
    )
    return SeparationOfDuties(message, extra={"rule": rule, "request": request.pk})


def eligible_approvers(*, request: ApprovalRequest, step: int) -> list[Any]:
    """People who could decide ``step`` now (for emails): holders of the role with no conflict."""
    role = request.policy.steps[step]["role"]
    candidates = get_user_model().objects.filter(groups__name=role, is_active=True).distinct()
    return [user for user in candidates if separation_of_duties_problem(actor=user, request=request, step=step) is None]


# --- emails ---------------------------------------------------------------------------------------------------


def _context(request: ApprovalRequest) -> dict[str, Any]:
    version = request.model_version
    return {
        "request_id": request.pk,
        "model": version.model.name,
        "version": version.version,
        "stage": request.target_stage,
        "state": request.state,
        "step": request.current_step + 1,
        "steps": len(request.policy.steps),
        "step_name": request.policy.steps[min(request.current_step, len(request.policy.steps) - 1)]["name"],
        "requester": request.requester.get_username(),
        "digest": request.artifact_digest,
        "conditions": request.conditions,
        "conditions_due": request.conditions_due.isoformat() if request.conditions_due else "",
        "expires_at": request.expires_at.date().isoformat() if request.expires_at else "",
    }


def _email_step_approvers(request: ApprovalRequest, *, extra_to: list[str] | None = None) -> None:
    approvers = [user.email for user in eligible_approvers(request=request, step=request.current_step)]
    context = _context(request)
    email_queue(
        key=f"approval:{request.pk}:step:{request.current_step}:approvers",
        template="approval_step_open",
        to=approvers,
        subject=f"[modelgov] Approval needed: {context['model']} v{context['version']} → {request.target_stage}",
        request=request,
        context=context,
    )
    if extra_to:
        email_queue(
            key=f"approval:{request.pk}:step:{request.current_step}:requester",
            template="approval_progress",
            to=extra_to,
            subject=f"[modelgov] {context['model']} v{context['version']}: step {request.current_step} approved",
            request=request,
            context=context,
        )


def _email_final(request: ApprovalRequest, entry: AuditEntry) -> None:
    """Tell the owner and requester, and the plugins, that the request reached a final state."""
    model = _model_of(request)
    last = request.decisions.order_by("-created_at").select_related("approver").first()
    notify_after_commit(
        hook="modelgov_approval_decided",
        event=ApprovalDecided(
            request_id=request.pk,
            model=model.name,
            version=request.model_version.version,
            target_stage=request.target_stage,
            state=request.state,
            decided_by=last.approver.get_username() if last else "",
            audit_entry_id=entry.pk,
        ),
        subject=request,
    )
    context = _context(request)
    email_queue(
        key=f"approval:{request.pk}:final:{request.state}",
        template="approval_decided",
        to=[model.owner.email, request.requester.email],
        subject=f"[modelgov] {context['model']} v{context['version']} → {request.target_stage}: {request.state}",
        request=request,
        context=context,
    )


# --- policies -------------------------------------------------------------------------------------------------


def approval_policy_validate_steps(steps: Any) -> list[dict[str, Any]]:
    if not isinstance(steps, list) or not steps:
        raise InvalidPolicy("A policy has at least one step.")
    cleaned = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or set(step) != {"name", "role", "quorum"}:
            raise InvalidPolicy("A step is an object with name, role and quorum.", extra={"step": index})
        if step["role"] not in (Role.VALIDATOR, Role.COMPLIANCE_OFFICER):
            raise InvalidPolicy("A step's role is validator or compliance_officer.", extra={"step": index})
        if not isinstance(step["quorum"], int) or not 1 <= step["quorum"] <= 10:
            raise InvalidPolicy("A step's quorum is a whole number from 1 to 10.", extra={"step": index})
        cleaned.append({"name": str(step["name"])[:100], "role": step["role"], "quorum": step["quorum"]})
    return cleaned


def approval_policy_create_version(
    *, actor: Any, risk_tier: str, target_stage: str, steps: Any, approval_lifetime_days: int
) -> ApprovalPolicy:
    """A new version of the policy for (risk tier, stage); requests already open keep theirs."""
    if not actor.has_perm("governance.add_approvalpolicy"):
        raise PermissionDenied("Only compliance officers edit approval policies.")
    if risk_tier not in RiskTier.values or target_stage not in PROMOTION_STAGES:
        raise InvalidPolicy("Unknown risk tier or target stage.")
    if not 1 <= approval_lifetime_days <= 3650:
        raise InvalidPolicy("An approval lifetime is 1 to 3650 days.")
    cleaned = approval_policy_validate_steps(steps)
    with transaction.atomic():
        current = (
            ApprovalPolicy.objects.select_for_update()
            .filter(risk_tier=risk_tier, target_stage=target_stage, is_current=True)
            .first()
        )
        version = 1
        if current is not None:
            current.is_current = False
            current.save(update_fields=["is_current"])
            version = current.version + 1
        policy = ApprovalPolicy.objects.create(
            risk_tier=risk_tier,
            target_stage=target_stage,
            version=version,
            steps=cleaned,
            approval_lifetime_days=approval_lifetime_days,
            is_current=True,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            event_type=AuditEvent.APPROVAL_POLICY_CREATED,
            subject=policy,
            before={"version": current.version, "steps": current.steps} if current else None,
            after={"version": version, "steps": cleaned, "approval_lifetime_days": approval_lifetime_days},
        )
    return policy


# --- requests -------------------------------------------------------------------------------------------------


def approval_request_create(
    *, actor: Any, model_version: ModelVersion, target_stage: str, comment: str = "", submit: bool = True
) -> ApprovalRequest:
    """Request promotion of a version to a stage, bound to its digest and the current policy.
    Submitted at once unless ``submit`` is False (then it is a draft)."""
    model = model_version.model
    if not user_has_model_perm(actor, ModelPermission.REQUEST_PROMOTION, model):
        raise PermissionDenied(
            f"You may not request promotion of model {model.name!r}.",
            extra={"model": model.name, "permission": ModelPermission.REQUEST_PROMOTION.value},
        )
    if target_stage not in PROMOTION_STAGES:
        raise InvalidStage(f"Promotion goes to {' or '.join(PROMOTION_STAGES)}.", extra={"target_stage": target_stage})
    if model.status == ModelStatus.RETIRED:
        raise ModelRetired(f"Model {model.name!r} is retired.", extra={"model": model.name})
    policy = ApprovalPolicy.objects.filter(
        risk_tier=model.risk_tier, target_stage=target_stage, is_current=True
    ).first()
    if policy is None:
        raise NoPolicy(f"No approval policy for {model.risk_tier} risk → {target_stage}.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                request = ApprovalRequest.objects.create(
                    model_version=model_version,
                    target_stage=target_stage,
                    artifact_digest=model_version.artifact_digest,
                    policy=policy,
                    requester=actor,
                    state=ApprovalState.DRAFT,
                    comment=comment,
                )
        except IntegrityError:
            raise DuplicateRequest(
                "This version already has an open request for this stage.",
                extra={"model": model.name, "version": model_version.version, "target_stage": target_stage},
            ) from None
        audit_record(
            actor=actor,
            event_type=AuditEvent.APPROVAL_REQUESTED,
            subject=request,
            model_name=model.name,
            after={
                "model": model.name,
                "version": model_version.version,
                "target_stage": target_stage,
                "artifact_digest": model_version.artifact_digest,
                "policy": {"risk_tier": policy.risk_tier, "version": policy.version, "steps": policy.steps},
                "comment": comment,
            },
        )
        if submit:
            _submit(request, actor=actor)
    request.refresh_from_db()
    return request


def _submit(request: ApprovalRequest, *, actor: Any) -> None:
    request = _lock(request)
    request.submitted_at = timezone.now()
    _transition(request, ApprovalState.SUBMITTED, actor=actor)
    request.current_step = 0
    _transition(request, ApprovalState.IN_REVIEW, actor=actor)
    _email_step_approvers(request)


def approval_request_submit(*, actor: Any, request: ApprovalRequest) -> ApprovalRequest:
    """Submit a draft (its requester only)."""
    if actor.pk != request.requester_id:
        raise PermissionDenied("Only the requester submits a draft.")
    with transaction.atomic():
        _submit(request, actor=actor)
    request.refresh_from_db()
    return request


def approval_request_decide(
    *,
    actor: Any,
    request: ApprovalRequest,
    decision: str,
    comment: str = "",
    conditions: str = "",
    due_date: date | None = None,
) -> ApprovalRequest:
    """Record one approver's decision on the open step. A rejection needs a comment; a conditional
    approval needs its conditions and a due date. The step completes at its quorum; the last step
    grants the approval (for the policy's lifetime) and supersedes older approvals for the stage."""
    if decision not in Decision.values:
        raise InvalidTransition(f"Unknown decision {decision!r}.", extra={"decision": decision})
    if decision == Decision.REJECT and not comment.strip():
        raise CommentRequired("A rejection needs a comment.")
    if decision == Decision.APPROVE_WITH_CONDITIONS:
        if not conditions.strip() or due_date is None:
            raise ConditionsRequired("A conditional approval needs its conditions and a due date.")
        if due_date <= timezone.now().date():
            raise ConditionsRequired(
                "The conditions' due date must be in the future.", extra={"due_date": str(due_date)}
            )
    if request.state != ApprovalState.IN_REVIEW:
        raise InvalidTransition(
            f"A request that is {request.state} takes no decisions.",
            extra={"request": request.pk, "state": request.state},
        )
    problem = separation_of_duties_problem(actor=actor, request=request, step=request.current_step)
    if problem is not None:
        raise _refuse(actor=actor, request=request, rule=problem[0], message=problem[1])
    try:
        with transaction.atomic():
            locked = _lock(request)
            if locked.state != ApprovalState.IN_REVIEW or locked.current_step != request.current_step:
                raise InvalidTransition(
                    "The request moved on while you decided; reload it.",
                    extra={"request": request.pk, "state": locked.state, "step": locked.current_step + 1},
                )
            _decide_locked(
                locked, actor=actor, decision=decision, comment=comment, conditions=conditions, due_date=due_date
            )
    except IntegrityError:
        # Two tabs of the same person racing past the check: the unique constraint is the last word.
        raise _refuse(
            actor=actor,
            request=request,
            rule="one_step_per_person",
            message="One person decides at most one step of a request.",
        ) from None
    request.refresh_from_db()
    return request


def _decide_locked(
    request: ApprovalRequest, *, actor: Any, decision: str, comment: str, conditions: str, due_date: date | None
) -> None:
    step = request.current_step
    ApprovalDecision.objects.create(
        request=request,
        step=step,
        approver=actor,
        decision=decision,
        comment=comment,
        conditions=conditions,
        due_date=due_date,
    )
    audit_record(
        actor=actor,
        event_type=AuditEvent.APPROVAL_STEP_DECIDED,
        subject=request,
        model_name=_model_of(request).name,
        after={
            "step": step + 1,
            "step_name": request.policy.steps[step]["name"],
            "role": request.policy.steps[step]["role"],
            "decision": decision,
            "comment": comment,
            "conditions": conditions,
            "due_date": due_date.isoformat() if due_date else None,
            "artifact_digest": request.artifact_digest,
        },
    )
    now = timezone.now()
    if decision == Decision.REJECT:
        request.decided_at = now
        entry = _transition(request, ApprovalState.REJECTED, actor=actor, reason=comment)
        _email_final(request, entry)
        return
    approvals = request.decisions.filter(step=step).exclude(decision=Decision.REJECT).count()
    if approvals < request.policy.steps[step]["quorum"]:
        return
    if step + 1 < len(request.policy.steps):
        request.current_step = step + 1
        _transition(request, ApprovalState.IN_REVIEW, actor=actor, reason=f"step {step + 1} complete")
        _email_step_approvers(request, extra_to=[request.requester.email])
        return
    conditional = request.decisions.filter(decision=Decision.APPROVE_WITH_CONDITIONS)
    if conditional.exists():
        request.conditions = "\n".join(f"- {item.conditions}" for item in conditional)
        request.conditions_due = min(item.due_date for item in conditional if item.due_date)
    request.decided_at = now
    request.expires_at = now + timedelta(days=request.policy.approval_lifetime_days)
    final = ApprovalState.APPROVED_WITH_CONDITIONS if conditional.exists() else ApprovalState.APPROVED
    entry = _transition(request, final, actor=actor)
    if request.target_stage == Stage.PRODUCTION:
        # What was approved stays what was approved: later lineage events cannot rewrite it.
        lineage_snapshot_take(actor=actor, version=request.model_version, approval_request_id=request.pk)
    _supersede_older(request, actor=actor)
    _email_final(request, entry)


def _supersede_older(request: ApprovalRequest, *, actor: Any) -> None:
    """A newer version's approval for a stage supersedes the older versions' approvals for it."""
    older = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("policy", "model_version__model")
        .filter(
            model_version__model_id=request.model_version.model_id,
            target_stage=request.target_stage,
            state__in=GRANTED_STATES,
            model_version__version__lt=request.model_version.version,
        )
    )
    for previous in older:
        previous.superseded_by = request
        _transition(previous, ApprovalState.SUPERSEDED, actor=actor, reason=f"superseded by request {request.pk}")


def approval_request_withdraw(*, actor: Any, request: ApprovalRequest, comment: str = "") -> ApprovalRequest:
    """Withdraw an open request: its requester, or a compliance officer."""
    if actor.pk != request.requester_id and not actor.groups.filter(name=Role.COMPLIANCE_OFFICER).exists():
        raise PermissionDenied("Only the requester or a compliance officer withdraws a request.")
    with transaction.atomic():
        locked = _lock(request)
        _transition(locked, ApprovalState.WITHDRAWN, actor=actor, reason=comment)
    request.refresh_from_db()
    return request


def approval_conditions_met(*, actor: Any, request: ApprovalRequest, evidence: str) -> ApprovalRequest:
    """A compliance officer records that a conditional approval's conditions are met."""
    if not actor.groups.filter(name=Role.COMPLIANCE_OFFICER).exists():
        raise PermissionDenied("Only a compliance officer records conditions as met.")
    if not evidence.strip():
        raise CommentRequired("Say what shows the conditions are met.")
    with transaction.atomic():
        locked = _lock(request)
        if locked.state != ApprovalState.APPROVED_WITH_CONDITIONS:
            raise InvalidTransition(
                f"A request that is {locked.state} has no open conditions.", extra={"state": locked.state}
            )
        locked.conditions_met_at = timezone.now()
        audit_record(
            actor=actor,
            event_type=AuditEvent.APPROVAL_CONDITIONS_MET,
            subject=locked,
            model_name=_model_of(locked).name,
            after={"conditions": locked.conditions, "evidence": evidence},
        )
        _transition(locked, ApprovalState.APPROVED, actor=actor, reason="conditions met")
    request.refresh_from_db()
    return request


def approval_expire_due(*, now: Any = None) -> int:
    """Expire lapsed approvals (logged, owner emailed) and queue the 30-day reminders. Idempotent."""
    now = now or timezone.now()
    expired = 0
    due = ApprovalRequest.objects.filter(state__in=GRANTED_STATES, expires_at__lte=now).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            request = _lock(ApprovalRequest(pk=pk))
            if request.state not in GRANTED_STATES or request.expires_at is None or request.expires_at > now:
                continue
            _transition(request, ApprovalState.EXPIRED, actor=None, reason="approval lifetime ended")
            context = _context(request)
            email_queue(
                key=f"approval:{request.pk}:expired",
                template="approval_expired",
                to=[_model_of(request).owner.email],
                subject=f"[modelgov] Approval expired: {context['model']} v{context['version']}",
                request=request,
                context=context,
            )
            expired += 1
    horizon = now + timedelta(days=settings.MODELGOV["EXPIRY_REMINDER_DAYS"])
    reminders = ApprovalRequest.objects.filter(
        state__in=GRANTED_STATES, expires_at__lte=horizon, expires_at__gt=now, expiry_reminder_sent_at__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(reminders):
        with transaction.atomic():
            request = _lock(ApprovalRequest(pk=pk))
            if request.expiry_reminder_sent_at is not None:
                continue
            request.expiry_reminder_sent_at = now
            request.save(update_fields=["expiry_reminder_sent_at"])
            context = _context(request)
            email_queue(
                key=f"approval:{request.pk}:expiring",
                template="approval_expiring",
                to=[_model_of(request).owner.email],
                subject=f"[modelgov] Approval ends {context['expires_at']}: {context['model']} v{context['version']}",
                request=request,
                context=context,
            )
    return expired
