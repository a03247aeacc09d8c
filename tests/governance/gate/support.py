"""Helpers of the gate tests: request bodies, the exact votes of the built-in checks, the audit
entries a decision writes, and a snapshot of everything a gate call could write."""

import base64
import uuid
from typing import Any

from governance.models import ApprovalRequest, AuditEntry, AuditLeaf, GateDecision
from hooks.events import GateDecided
from hooks.specs import hookimpl
from registry.models import ModelVersion
from tests.conftest import client_for

GATE_URL = "/api/v1/gate/promotions"
BUILTIN_NAMES = ["signature_valid", "digest_matches", "signing_key_active", "approvals_complete"]
EMPTY_PIPELINE = {"system": "", "run_id": "", "url": "", "commit": "", "metadata": {}}
OTHER_DIGEST = "sha256:" + "ab" * 32


def gate_body(version: ModelVersion, stage: str = "production", **fields: Any) -> dict[str, Any]:
    return {
        "model": version.model.name,
        "version": version.version,
        "target_stage": stage,
        "artifact_digest": version.artifact_digest,
        **fields,
    }


def approval_details(request: ApprovalRequest | None, *, reason: str, detail: str) -> dict[str, Any]:
    """The gate's view of an approval (ApprovalStatus as a dict), as the approvals_complete check reports it."""
    if request is None:
        return {
            "approved": False,
            "reason": reason,
            "detail": detail,
            "request_id": None,
            "policy_version": None,
            "expires_at": None,
        }
    request.refresh_from_db()
    return {
        "approved": reason == "approved",
        "reason": reason,
        "detail": detail,
        "request_id": request.pk,
        "policy_version": request.policy.version,
        "expires_at": request.expires_at.isoformat() if request.expires_at else None,
    }


def approved_details(request: ApprovalRequest) -> dict[str, Any]:
    request.refresh_from_db()
    assert request.expires_at is not None
    return approval_details(request, reason="approved", detail=f"Approved until {request.expires_at.isoformat()}.")


def builtin_votes(version: ModelVersion, approvals_vote: dict[str, Any]) -> list[dict[str, Any]]:
    """The four built-in votes: the three signature checks passing, then ``approvals_vote``."""
    fingerprint = version.signing_key.fingerprint
    return [
        {"name": "signature_valid", "outcome": "pass", "reason": "ok", "details": {"signing_key": fingerprint}},
        {
            "name": "digest_matches",
            "outcome": "pass",
            "reason": "ok",
            "details": {"requested": version.artifact_digest, "registered": version.artifact_digest},
        },
        {"name": "signing_key_active", "outcome": "pass", "reason": "ok", "details": {"signing_key": fingerprint}},
        approvals_vote,
    ]


def passing_checks(version: ModelVersion, request: ApprovalRequest) -> list[dict[str, Any]]:
    """The four built-in votes when everything holds."""
    vote = {"name": "approvals_complete", "outcome": "pass", "reason": "ok", "details": approved_details(request)}
    return builtin_votes(version, vote)


def replace_check(checks: list[dict[str, Any]], replacement: dict[str, Any]) -> list[dict[str, Any]]:
    return [replacement if check["name"] == replacement["name"] else check for check in checks]


def gate_entry(decision_id: str | uuid.UUID) -> AuditEntry:
    return AuditEntry.objects.get(event_type="GATE_DECIDED", subject_id=str(decision_id))


def gate_audit(entry: AuditEntry) -> tuple[Any, ...]:
    return (entry.event_type, entry.actor_name, entry.model_name, entry.subject_type, entry.before)


def expected_gate_after(
    version: ModelVersion,
    *,
    decision: str,
    failed: list[str],
    envelope_sha256: str,
    stage: str = "production",
    digest: str | None = None,
    pipeline: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    return {
        "decision": decision,
        "model": version.model.name,
        "version": version.version,
        "target_stage": stage,
        "requested_digest": digest or version.artifact_digest,
        "failed_checks": failed,
        "envelope_sha256": envelope_sha256,
        "pipeline": pipeline or EMPTY_PIPELINE,
        "dry_run": dry_run,
    }


def events_since(mark: int) -> list[str]:
    return list(AuditEntry.objects.filter(id__gt=mark).order_by("id").values_list("event_type", flat=True))


def audit_mark() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def snapshot() -> dict[str, Any]:
    """Everything a gate call may write: decisions, audit entries and leaves, versions' stages."""
    return {
        "decisions": list(GateDecision.objects.order_by("id").values_list("id", flat=True)),
        "audit": list(AuditEntry.objects.order_by("id").values_list("id", flat=True)),
        "leaves": AuditLeaf.objects.count(),
        "stages": list(ModelVersion.objects.order_by("pk").values_list("pk", "stage")),
    }


def flip_base64(text: str, index: int) -> str:
    """Decode ``text``, flip one bit of byte ``index``, and encode it again."""
    raw = bytearray(base64.b64decode(text))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


class RecordingNotification:
    """A notification plugin that keeps every gate decision it hears of."""

    def __init__(self) -> None:
        self.events: list[GateDecided] = []

    @hookimpl
    def modelgov_gate_decided(self, event: GateDecided) -> None:
        self.events.append(event)


def ask(user: Any, body: dict[str, Any]) -> dict[str, Any]:
    """POST the gate as ``user`` and return its answer, which must be a 200."""
    response = client_for(user).post(GATE_URL, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def promote(world: Any, version: ModelVersion | None = None, facts: Any = None) -> tuple[GateDecision, int | None]:
    """``gate_evaluate`` with ``promote=True`` to production as ci-b (model-b v1 unless ``version``),
    as the API calls it; ``facts``: what the API read before deciding (None: read them now)."""
    from governance.gate.services import gate_evaluate
    from hooks.events import PipelineInfo

    version = version or world.version_b1
    return gate_evaluate(
        actor=world.ci_b,
        version=version,
        target_stage="production",
        artifact_digest=version.artifact_digest,
        pipeline=PipelineInfo(),
        promote=True,
        facts=facts,
    )
