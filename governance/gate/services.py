"""The promotion gate. Every check votes (built-in and plugins); deny wins; a plugin that raises is
an ``error`` vote; the decision is a signed DSSE envelope over an in-toto statement whose subject is
the artifact digest, logged with its hash. It fails closed: any failure before the signed allow is
committed is an exception (a 5xx), never an allow."""

import contextlib
import copy
import logging
import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.canonical import canonical_json
from core.errors import PermissionDenied
from core.serializers import MAX_JSON_DEPTH, json_problem, storable_text
from core.signing import KeyPurpose
from governance.approvals.selectors import approval_status_from
from governance.audit.services import audit_record, audit_seq_durable
from governance.choices import AuditEvent
from governance.errors import InvalidStage
from governance.gate import builtin
from governance.gate.notify import notify_after_commit
from governance.gate.selectors import GateFacts, gate_facts
from governance.models import ApprovalRequest, GateDecision
from hooks import events, tlog
from hooks.manager import get_plugin_manager
from hooks.manifest import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE
from registry.choices import ModelPermission, Stage
from registry.models import ModelVersion, RegisteredModel, SigningKey
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
    """The built-in checks first, on the gate's own context; then every plugin's, in pluggy's order
    (tryfirst first), each on a copy of its own: what a plugin changes in its copy reaches neither the
    built-ins, nor another plugin, nor what is signed and stored. A plugin that raises or answers
    nonsense (not a list of CheckResult, an unknown outcome, a built-in's name, details that are not
    JSON) is an ``error`` vote."""
    results = list(builtin.GATE_CHECKS.modelgov_gate_checks(context))
    for impl in reversed(get_plugin_manager().hook.modelgov_gate_checks.get_hookimpls()):
        if impl.plugin is builtin.GATE_CHECKS:
            continue
        try:
            # An implementation may take fewer arguments than the spec offers (pluggy's convention).
            answer = impl.function(**({"context": copy.deepcopy(context)} if "context" in impl.argnames else {}))
            results.extend(_checked_votes(answer))
        except Exception as exc:  # fail closed: the plugin's error is a vote against
            logger.exception("gate plugin %s raised", impl.plugin_name)
            results.append(
                events.CheckResult(
                    f"plugin:{impl.plugin_name}",
                    "error",
                    "plugin_error",
                    {"error": storable_text(f"{type(exc).__name__}: {exc}")[:500]},
                )
            )
    # The built-ins first, then the plugins' votes, then the plugins' errors: a stable order.
    return sorted(results, key=lambda vote: (vote.name.startswith("plugin:"), vote.name not in BUILTIN_ORDER))


def _checked_votes(votes: Any) -> list[events.CheckResult]:
    if not isinstance(votes, list) or not all(isinstance(vote, events.CheckResult) for vote in votes):
        raise TypeError("a gate check must return a list of CheckResult")
    for vote in votes:
        if vote.outcome not in ("pass", "fail", "error"):
            raise ValueError(f"outcome {vote.outcome!r} is not pass, fail or error")
        if vote.name in BUILTIN_ORDER or vote.name.startswith("plugin:"):
            raise ValueError(f"the check name {vote.name!r} is reserved for the gate")
        fields = _fields_of(vote)
        canonical_json(fields)  # stored and signed as JSON: anything else fails here, as a vote
        problem = json_problem(fields, max_depth=MAX_JSON_DEPTH)  # and stored as jsonb (no NUL)
        if problem is not None:
            raise ValueError(f"the vote {vote.name!r} holds what cannot be stored: {problem[0]} at {list(problem[1])}")
    return votes


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
    nonce: str | None = None,
    facts: GateFacts | None = None,
) -> tuple[GateDecision, int | None]:
    """Evaluate a promotion and return the logged decision and its audit seq. ``facts``: what
    ``gate_subject`` read with the version, if the caller read them together (the API). ``nonce``:
    the caller's value, signed into the decision (a client that sent a fresh one knows the answer
    is to its request).

    With ``promote`` (and not ``dry_run``) a caller who may not ask is refused first; then the whole
    evaluation runs in the promotion's transaction, after locking the rows it rests on and reading the
    facts again (``_locked_for_promotion``): a key revoked, an approval decided or a promotion made
    meanwhile waits for this one, or is seen by it; nothing changes between the checks and the move."""
    promoting_asked = promote and not dry_run
    if promoting_asked:  # refused before any lock is taken: a caller who may not ask, a stage not gated
        asked = facts or gate_facts(actor=actor, version=version, stage=target_stage)
        _check_may_ask(version=version, stage=target_stage, facts=asked)
    with transaction.atomic() if promoting_asked else contextlib.nullcontext():
        if promoting_asked:
            version, facts = _locked_for_promotion(actor=actor, version=version, stage=target_stage)
        row, entry = _decide(
            actor=actor,
            version=version,
            target_stage=target_stage,
            artifact_digest=artifact_digest,
            pipeline=pipeline,
            dry_run=dry_run,
            promote=promote,
            nonce=nonce,
            facts=facts,
        )
    # The answer carries the seq, so it must be on disk (audit_seq_durable); None if the entry could not
    # be placed (logged): the decision itself is committed and stands.
    return row, audit_seq_durable(entry_id=entry.pk)


def _locked_for_promotion(*, actor: Any, version: ModelVersion, stage: str) -> tuple[ModelVersion, GateFacts]:
    """In the promotion's transaction: the rows the decision rests on, locked, then the version and the
    facts read again. The order avoids a cycle with the services that lock the same rows: the model
    first (as ``model_version_promote``), then the stage's approval requests (``approval_request_decide``
    locks its request first, then writes rows that reference the version), then the version without
    its key (``FOR NO KEY UPDATE``: a row being inserted that references it is not held up), then the
    key ``FOR KEY SHARE`` (a revoke waits; a registration with the same key does not)."""
    RegisteredModel.objects.select_for_update().filter(pk=version.model_id).values_list("pk", flat=True).get()
    list(
        ApprovalRequest.objects.select_for_update(of=("self",))
        .filter(model_version_id=version.pk, target_stage=stage)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    versions = ModelVersion.objects.select_for_update(no_key=True, of=("self",)).select_related("model", "created_by")
    locked = versions.get(pk=version.pk)
    keys: Any = SigningKey.objects.filter(pk=locked.signing_key_id)
    if connection.vendor == "postgresql":  # Django has no FOR KEY SHARE; SQLite (the demo) locks nothing
        keys = SigningKey.objects.raw(_KEY_SHARE_SQL, [locked.signing_key_id])
    [locked.signing_key] = list(keys)
    return locked, gate_facts(actor=actor, version=locked, stage=stage)


_KEY_SHARE_SQL = f"SELECT * FROM {SigningKey._meta.db_table} WHERE id = %s FOR KEY SHARE"  # noqa: S608 (model metadata)


def _check_may_ask(*, version: ModelVersion, stage: str, facts: GateFacts) -> None:
    if not facts.may_request_promotion:
        raise PermissionDenied(
            f"You may not ask the gate about model {version.model.name!r}.",
            extra={"model": version.model.name, "permission": ModelPermission.REQUEST_PROMOTION.value},
        )
    if stage not in GATE_STAGES:
        raise InvalidStage(f"The gate promotes to {' or '.join(GATE_STAGES)}.", extra={"target_stage": stage})


def _decide(
    *,
    actor: Any,
    version: ModelVersion,
    target_stage: str,
    artifact_digest: str,
    pipeline: events.PipelineInfo,
    dry_run: bool,
    promote: bool,
    nonce: str | None,
    facts: GateFacts | None,
) -> tuple[GateDecision, Any]:
    """The checks, the signed decision and its log entry (and the move, when promoting)."""
    model = version.model
    if facts is None:
        facts = gate_facts(actor=actor, version=version, stage=target_stage)
    _check_may_ask(version=version, stage=target_stage, facts=facts)
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
                "promote": promote,
                "nonce": nonce,
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
    # integration: one round trip on PostgreSQL. With one, gate_evaluate's transaction holds both.
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
        # integrated (durably) in the same round trip, and audit_seq_durable needs no query.
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
    return row, entry
