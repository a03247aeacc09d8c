"""What the gate reads about a version besides the version itself: may the caller ask, which approval
requests exist for the stage, and which countersignature hash the registration logged."""

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from core import prepared, rawrows
from governance.approvals.selectors import ApprovalRow, approval_rows
from governance.audit.selectors import audit_entry_after
from governance.choices import AuditEvent
from registry.choices import ModelPermission
from registry.errors import ModelVersionNotFound
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.permissions import model_perm_condition, user_has_model_perm
from registry.selectors import SIGNED_JSON_COLUMNS, model_version_get_for_user


@dataclass(frozen=True)
class GateFacts:
    may_request_promotion: bool
    approvals: list[ApprovalRow]
    logged_countersignature_sha256: str | None
    # The version's signed JSON columns as stored (their text), when the gate read the version itself:
    # the signature checks are reused by a digest of this text, and parse it only when they run.
    signed_json: dict[str, str] | None = None


def gate_subject(*, name: str, version: int, actor: Any, stage: str) -> tuple[ModelVersion, GateFacts]:
    """The version the gate is asked about (the errors of ``model_version_get_for_user`` when the
    caller may not view it or it does not exist) and the facts of the decision. On PostgreSQL one
    prepared statement reads both: the version with its model, creator and key, and the facts."""
    if not _in_one_statement(actor):
        found = model_version_get_for_user(name=name, version=version, user=actor)
        return found, gate_facts_by_selectors(actor=actor, version=found, stage=stage)
    viewable, view_params, allowed, params = "TRUE", list[Any](), "TRUE", list[Any]()
    if not actor.is_superuser:
        viewable, view_params = model_perm_condition(ModelPermission.VIEW, actor, "m.id")
        allowed, params = model_perm_condition(ModelPermission.REQUEST_PROMOTION, actor, "m.id")
    sql = _SUBJECT_SQL.format(
        columns=", ".join(rawrows.select_list(model, alias) for model, alias in _JOINED),
        users=get_user_model()._meta.db_table,
        allowed=allowed,
        viewable=viewable,
    )
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            sql,
            [
                *params,
                str(AuditEvent.MODEL_VERSION_REGISTERED),
                ModelVersion._meta.label,
                stage,
                name,
                version,
                *view_params,
            ],
        )
        row = cursor.fetchone()
    if row is None:  # not found, or not viewable: the version read says which, as everywhere else
        found = model_version_get_for_user(name=name, version=version, user=actor)
        return found, gate_facts(actor=actor, version=found, stage=stage)
    at, width = rawrows.width(ModelVersion), sum(rawrows.width(model) for model, _alias in _JOINED)
    found, signed_json = rawrows.instance_deferring(ModelVersion, row[:at], SIGNED_JSON_COLUMNS)
    model, creator, key = rawrows.instances(_JOINED[1:], row[at:width])
    found.model, found.created_by, found.signing_key = model, creator, key
    return found, dataclasses.replace(_facts_of(row[width:]), signed_json=signed_json)


def _in_one_statement(actor: Any) -> bool:
    """Whether the prepared statements answer (PostgreSQL, an active account); else the selectors do,
    with their own answers for anonymous and inactive callers."""
    return connection.vendor == "postgresql" and actor.is_authenticated and actor.is_active


def _facts_of(row: Any) -> GateFacts:
    may, logged_sha256, *columns = row
    approvals = [ApprovalRow._make(values) for values in zip(*[column or [] for column in columns], strict=True)]
    return GateFacts(may_request_promotion=bool(may), approvals=approvals, logged_countersignature_sha256=logged_sha256)


def gate_facts(*, actor: Any, version: ModelVersion, stage: str) -> GateFacts:
    """The facts of one decision. On PostgreSQL one prepared statement reads them all; elsewhere (the
    SQLite demo) the selectors each answer their part. Both give the same facts (tests hold them to it)."""
    if not _in_one_statement(actor):
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
                stage,
                version.pk,
            ],
        )
        row = cursor.fetchone()
    if row is None:  # the version went away since it was read (it cannot: versions are never deleted)
        raise ModelVersionNotFound(
            f"Model {version.model.name!r} has no version {version.version}.",
            extra={"model": version.model.name, "version": version.version},
        )
    return _facts_of(row)


# The statements are fixed SQL with placeholders: the permission conditions come from
# registry.permissions.model_perm_condition, the column lists from the models; every value is a
# parameter, so each is prepared once per session (and per kind of caller: superuser or not).
_FACTS = """{allowed},
    (SELECT e.after ->> 'countersignature_sha256' FROM governance_auditentry e
      WHERE e.event_type = %s AND e.subject_type = %s AND e.subject_id = CAST(v.id AS VARCHAR) ORDER BY e.id LIMIT 1),
    a.ids, a.states, a.digests, a.created, a.decided, a.expires, a.due, a.policy_versions"""
_APPROVALS = """LATERAL
    (SELECT array_agg(r.id) AS ids, array_agg(r.state) AS states, array_agg(r.artifact_digest) AS digests,
            array_agg(r.created_at) AS created, array_agg(r.decided_at) AS decided,
            array_agg(r.expires_at) AS expires, array_agg(r.conditions_due) AS due,
            array_agg(p.version) AS policy_versions
       FROM governance_approvalrequest r JOIN governance_approvalpolicy p ON p.id = r.policy_id
      WHERE r.model_version_id = v.id AND r.target_stage = %s) a"""
_FACTS_SQL = f"SELECT {_FACTS} FROM registry_modelversion v, {_APPROVALS} WHERE v.id = %s"  # noqa: S608
_SUBJECT_SQL = f"""SELECT {{columns}}, {_FACTS}
FROM registry_modelversion v JOIN registry_registeredmodel m ON m.id = v.model_id
    JOIN {{users}} u ON u.id = v.created_by_id JOIN registry_signingkey k ON k.id = v.signing_key_id,
    {_APPROVALS}
WHERE m.name = %s AND v.version = %s AND {{viewable}}"""  # noqa: S608
_JOINED = ((ModelVersion, "v"), (RegisteredModel, "m"), (get_user_model(), "u"), (SigningKey, "k"))


def gate_facts_by_selectors(*, actor: Any, version: ModelVersion, stage: str) -> GateFacts:
    """The same facts from the selectors that answer each part (three queries)."""
    logged = audit_entry_after(event_type=AuditEvent.MODEL_VERSION_REGISTERED, subject=version)
    return GateFacts(
        may_request_promotion=user_has_model_perm(actor, ModelPermission.REQUEST_PROMOTION, version.model),
        approvals=approval_rows(version=version, stage=stage),
        logged_countersignature_sha256=logged.get("countersignature_sha256") if logged else None,
    )
