"""What plugins receive: frozen dataclasses of plain values, never ORM objects (importable without Django)."""

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class PipelineInfo:
    """Who is asking the gate: the CI/CD system and its run."""

    system: str = ""
    run_id: str = ""
    url: str = ""
    commit: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateContext:
    """Everything a gate check may look at, computed by the server before any check runs."""

    model: str
    version: int
    target_stage: str
    risk_tier: str
    eu_ai_act_category: str
    requested_digest: str
    registered_digest: str
    signature_checks: dict[str, bool]
    signature_reasons: dict[str, str]
    signing_key_fingerprint: str
    signing_key_active: bool
    approval: dict[str, Any]
    pipeline: PipelineInfo
    metrics: dict[str, Any]


@dataclass(frozen=True)
class CheckResult:
    """One vote: ``name`` (stable, snake_case), ``outcome`` pass | fail | error, a reason and details."""

    name: str
    outcome: Outcome
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersionRegistered:
    model: str
    version: int
    artifact_digest: str
    registered_by: str
    audit_entry_id: int


@dataclass(frozen=True)
class ApprovalDecided:
    request_id: int
    model: str
    version: int
    target_stage: str
    state: str
    decided_by: str
    audit_entry_id: int


@dataclass(frozen=True)
class GateDecided:
    decision_id: str
    model: str
    version: int
    target_stage: str
    decision: Literal["allow", "deny"]
    failed_checks: tuple[str, ...]
    audit_entry_id: int


@dataclass(frozen=True)
class CardContext:
    model: str
    version: int
    sections: tuple[str, ...]


@dataclass(frozen=True)
class CardSection:
    key: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class SignedPayload:
    """A signature made by a signer plugin: the signature bytes and the key id to record."""

    signature: bytes
    keyid: str
