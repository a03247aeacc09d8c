"""What the gate reads about a version besides the version itself: may the caller ask, which approval
requests exist for the stage, and which countersignature hash the registration logged."""

from dataclasses import dataclass
from typing import Any

from django.db import connection

from core import prepared
from governance.approvals.selectors import ApprovalRow, approval_rows
from governance.audit.selectors import audit_entry_after
from governance.choices import AuditEvent
from registry.choices import ModelPermission
from registry.models import ModelVersion
from registry.permissions import model_perm_condition, user_has_model_perm


@dataclass(frozen=True)
class GateFacts:
    may_request_promotion: bool
    approvals: list[ApprovalRow]
    logged_countersignature_sha256: str | None


def gate_facts(*, actor: Any, version: ModelVersion, stage: str) -> GateFacts:
    """The facts of one decision. On PostgreSQL one prepared statement reads them all; elsewhere (the
    SQLite demo) the selectors each answer their part. Both give the same facts (tests hold them to it)."""
    if connection.vendor != "postgresql" or not actor.is_authenticated or not actor.is_active:
        return gate_facts_by_selectors(actor=actor, version=version, stage=stage)
    allowed, params = (
        ("TRUE", [])
        if actor.is_superuser
        else model_perm_condition(ModelPermission.REQUEST_PROMOTION, actor, "v.model_id")
    )
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            _FACTS_SQL.format(allowed=allowed),
            [
                *params,
                str(AuditEvent.MODEL_VERSION_REGISTERED),
                ModelVersion._meta.label,
                str(version.pk),
                version.pk,
                stage,
                version.pk,
            ],
        )
        row = cursor.fetchone()
    if row is None:  # the version went away since it was read (it cannot: versions are never deleted)
        raise ModelVersion.DoesNotExist(f"model version {version.pk}")
    may, logged_sha256, *columns = row
    approvals = [ApprovalRow._make(values) for values in zip(*[column or [] for column in columns], strict=True)]
    return GateFacts(may_request_promotion=bool(may), approvals=approvals, logged_countersignature_sha256=logged_sha256)


# The permission condition is fixed SQL with placeholders (registry.permissions.model_perm_condition);
# every value is a parameter, so the statement is prepared once per session and condition.
_FACTS_SQL = """
SELECT {allowed},
    (SELECT e.after ->> 'countersignature_sha256' FROM governance_auditentry e
      WHERE e.event_type = %s AND e.subject_type = %s AND e.subject_id = %s ORDER BY e.id LIMIT 1),
    a.ids, a.states, a.digests, a.created, a.decided, a.expires, a.due, a.policy_versions
FROM registry_modelversion v,
    (SELECT array_agg(r.id) AS ids, array_agg(r.state) AS states, array_agg(r.artifact_digest) AS digests,
            array_agg(r.created_at) AS created, array_agg(r.decided_at) AS decided,
            array_agg(r.expires_at) AS expires, array_agg(r.conditions_due) AS due,
            array_agg(p.version) AS policy_versions
       FROM governance_approvalrequest r JOIN governance_approvalpolicy p ON p.id = r.policy_id
      WHERE r.model_version_id = %s AND r.target_stage = %s) a
WHERE v.id = %s
"""


def gate_facts_by_selectors(*, actor: Any, version: ModelVersion, stage: str) -> GateFacts:
    """The same facts from the selectors that answer each part (three queries)."""
    logged = audit_entry_after(event_type=AuditEvent.MODEL_VERSION_REGISTERED, subject=version)
    return GateFacts(
        may_request_promotion=user_has_model_perm(actor, ModelPermission.REQUEST_PROMOTION, version.model),
        approvals=approval_rows(version=version, stage=stage),
        logged_countersignature_sha256=logged.get("countersignature_sha256") if logged else None,
    )
