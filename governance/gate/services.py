"""The promotion gate. Every check votes (built-in and plugins); deny wins; a plugin that raises is
an ``error`` vote; the decision is a signed DSSE envelope over an in-toto statement whose subject is
the artifact digest, logged with its hash. It fails closed: any failure before the signed allow is
committed is an exception (a 5xx), never an allow."""

import contextlib
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.canonical import canonical_json
from core.errors import PermissionDenied
from core.signing import KeyPurpose
from governance.approvals.selectors import approval_status_from
from governance.audit.services import audit_log_integrate, audit_record, audit_seq_known
from governance.choices import AuditEvent
from governance.errors import InvalidStage
from governance.gate.notify import notify_after_commit
from governance.gate.selectors import GateFacts, gate_facts
from governance.models import GateDecision
from hooks import events, tlog
from hooks.manager import get_plugin_manager
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE
from registry.choices import ModelPermission, Stage
from registry.models import ModelVersion
from registry.selectors import model_version_verify
from registry.services import model_version_promote
from registry.signing import envelope_sha256

logger = logging.getLogger(__name__)

GATE_PREDICATE_TYPE = "https://modelgov.dev/gate-decision/v1"
GATE_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def _context(
    *, version: ModelVersion, stage: str, digest: str, pipeline: events.PipelineInfo, facts: GateFacts
) -> events.GateContext:
    model = version.model
    checks = model_version_verify(
        version=version,
        logged_sha256=facts.logged_countersignature_sha256,
        look_up_log=False,
        reuse_verified=True,
        signed_json=facts.signed_json,
    )
    approval = approval_status_from(rows=facts.approvals, artifact_digest=version.artifact_digest, stage=stage)
    return events.GateContext(
        model=model.name,
        version=version.version,
        target_stage=stage,
        risk_tier=model.risk_tier,
        eu_ai_act_category=model.eu_ai_act_category,
        requested_digest=digest,
        registered_digest=version.artifact_digest,
        signature_checks={check.name: check.ok for check in checks},
        signature_reasons={check.name: check.reason for check in checks},
        signing_key_fingerprint=version.signing_key.fingerprint,
        signing_key_active=version.signing_key.revoked_at is None,
        approval=_fields_of(approval),
        pipeline=pipeline,
        metrics=dict(version.metrics),
    )


def _fields_of(instance: Any) -> dict[str, Any]:
    """A frozen dataclass's fields as a dict, one level deep (``dataclasses.asdict`` copies every nested
    value, which costs more than the rest of building a decision): its values are JSON values,
    stored and signed as they are."""
    return dict(vars(instance))


def _run_checks(context: events.GateContext) -> list[events.CheckResult]:
    """Every plugin votes on its own: one that raises or answers nonsense is an ``error`` vote."""
    results: list[events.CheckResult] = []
    for impl in get_plugin_manager().hook.modelgov_gate_checks.get_hookimpls():
        try:
            votes = impl.function(context=context)
            if not isinstance(votes, list) or not all(isinstance(vote, events.CheckResult) for vote in votes):
                raise TypeError("a gate check must return a list of CheckResult")
            for vote in votes:
                if vote.outcome not in ("pass", "fail", "error"):
                    raise ValueError(f"outcome {vote.outcome!r} is not pass, fail or error")
            results.extend(votes)
        except Exception as exc:  # fail closed: the plugin's error is a vote against
            logger.exception("gate plugin %s raised", impl.plugin_name)
            results.append(
                events.CheckResult(
                    f"plugin:{impl.plugin_name}",
                    "error",
                    "plugin_error",
                    {"error": f"{type(exc).__name__}: {exc}"[:500]},
                )
            )
    # Built-ins run last (trylast); show them first, then the plugins, as their order is stable.
    return sorted(results, key=lambda vote: (vote.name.startswith("plugin:"), vote.name not in BUILTIN_ORDER))


BUILTIN_ORDER = ("signature_valid", "digest_matches", "signing_key_active", "approvals_complete")


def _sign(statement: bytes) -> dict[str, Any]:
    signed = get_plugin_manager().hook.modelgov_sign_payload(
        payload=tlog.pae(INTOTO_PAYLOAD_TYPE, statement), purpose=KeyPurpose.GATE_DECISION.value
    )
    if not isinstance(signed, events.SignedPayload):
        raise RuntimeError("no signer answered modelgov_sign_payload")
    return tlog.dsse_sign(INTOTO_PAYLOAD_TYPE, statement, lambda _message: signed.signature, signed.keyid)


def gate_evaluate(
    *,
    actor: Any,
    version: ModelVersion,
    target_stage: str,
    artifact_digest: str,
    pipeline: events.PipelineInfo,
    dry_run: bool = False,
    promote: bool = False,
    facts: GateFacts | None = None,
) -> tuple[GateDecision, int | None]:
    """Evaluate a promotion and return the logged decision and its audit seq. ``facts``: what
    ``gate_subject`` read with the version, if the caller read them together (the API)."""
    model = version.model
    if facts is None:
        facts = gate_facts(actor=actor, version=version, stage=target_stage)
    if not facts.may_request_promotion:
        raise PermissionDenied(
            f"You may not ask the gate about model {model.name!r}.",
            extra={"model": model.name, "permission": ModelPermission.REQUEST_PROMOTION.value},
        )
    if target_stage not in GATE_STAGES:
        raise InvalidStage(f"The gate promotes to {' or '.join(GATE_STAGES)}.", extra={"target_stage": target_stage})
    context = _context(version=version, stage=target_stage, digest=artifact_digest, pipeline=pipeline, facts=facts)
    checks = _run_checks(context)
    builtin_ran = {vote.name for vote in checks} >= set(BUILTIN_ORDER)
    allow = builtin_ran and all(vote.outcome == "pass" for vote in checks)
    decision = "allow" if allow else "deny"
    decision_id = uuid.uuid4()
    now = timezone.now()
    check_rows = [_fields_of(vote) for vote in checks]
    pipeline_row = _fields_of(pipeline)
    statement = canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": model.name, "digest": {"sha256": artifact_digest.removeprefix("sha256:")}}],
            "predicateType": GATE_PREDICATE_TYPE,
            "predicate": {
                "decision_id": str(decision_id),
                "decision": decision,
                "model": model.name,
                "version": version.version,
                "target_stage": target_stage,
                "registered_digest": version.artifact_digest,
                "checks": check_rows,
                "policy_version": context.approval.get("policy_version"),
                "pipeline": pipeline_row,
                "dry_run": dry_run,
                "decided_by": actor.get_username(),
                "decided_at": now.isoformat().replace("+00:00", "Z"),
            },
        }
    )
    envelope = _sign(statement)
    envelope_hash = envelope_sha256(envelope)
    row = GateDecision(
        id=decision_id,
        model_version=version,
        target_stage=target_stage,
        requested_digest=artifact_digest,
        decision=decision,
        checks=check_rows,
        pipeline=pipeline_row,
        policy_version=context.approval.get("policy_version"),
        approval_request_id=context.approval.get("request_id"),
        envelope=envelope,
        envelope_sha256=envelope_hash,
        dry_run=dry_run,
        created_by=actor,
        created_at=now,
    )
    promoting = allow and promote and not dry_run
    # Without a promotion the decision is one INSERT with its entry, in its own transaction, and its
    # integration: one round trip on PostgreSQL.
    with transaction.atomic() if promoting else contextlib.nullcontext():
        entry = audit_record(
            actor=actor,
            event_type=AuditEvent.GATE_DECIDED,
            subject=row,
            model_name=model.name,
            after={
                "decision": decision,
                "model": model.name,
                "version": version.version,
                "target_stage": target_stage,
                "requested_digest": artifact_digest,
                "failed_checks": [vote.name for vote in checks if vote.outcome != "pass"],
                "envelope_sha256": envelope_hash,
                "pipeline": pipeline_row,
                "dry_run": dry_run,
            },
            insert_subject=True,
            # The answer carries the seq: without a promotion the write commits and the entry is
            # integrated in the same round trip, and audit_seq_known below needs no query.
            place=not promoting,
        )
        if promoting:
            model_version_promote(actor=actor, version=version, stage=target_stage)
            row.promoted = True
            row.save(update_fields=["promoted"])
        notify_after_commit(
            hook="modelgov_gate_decided",
            event=events.GateDecided(
                decision_id=str(decision_id),
                model=model.name,
                version=version.version,
                target_stage=target_stage,
                decision=decision,  # type: ignore[arg-type]
                failed_checks=tuple(vote.name for vote in checks if vote.outcome != "pass"),
                audit_entry_id=entry.pk,
            ),
            subject=row,
        )
    # The entry is placed already (by its own integration, or after commit by another); integrate here
    # only if neither happened yet (an integration that failed, or a promotion's entry while another held the lock).
    seq = audit_seq_known(entry_id=entry.pk)
    if seq is None:
        audit_log_integrate(wait=True)
        seq = audit_seq_known(entry_id=entry.pk)
    return row, seq
