"""Stable codes of the governance app. Audit event codes are never renamed or reused."""

from django.db import models


class AuditEvent(models.TextChoices):
    REGISTERED_MODEL_CREATED = "REGISTERED_MODEL_CREATED", "Model registered in inventory"
    REGISTERED_MODEL_UPDATED = "REGISTERED_MODEL_UPDATED", "Inventory metadata changed"
    MODEL_VERSION_REGISTERED = "MODEL_VERSION_REGISTERED", "Model version registered"
    API_TOKEN_CREATED = "API_TOKEN_CREATED", "API token created"
    API_TOKEN_REVOKED = "API_TOKEN_REVOKED", "API token revoked"
    SIGNING_KEY_REGISTERED = "SIGNING_KEY_REGISTERED", "Signing key registered"
    SIGNING_KEY_REVOKED = "SIGNING_KEY_REVOKED", "Signing key revoked"
    AUDIT_LOG_EXPORTED = "AUDIT_LOG_EXPORTED", "Audit log exported"
    AUDIT_LOG_VERIFIED = "AUDIT_LOG_VERIFIED", "Audit log integrity verified"
    APPROVAL_POLICY_CREATED = "APPROVAL_POLICY_CREATED", "Approval policy version created"
    APPROVAL_REQUESTED = "APPROVAL_REQUESTED", "Promotion requested (submitted for validation)"
    APPROVAL_STEP_DECIDED = "APPROVAL_STEP_DECIDED", "Approval decision recorded"
    APPROVAL_STATE_CHANGED = "APPROVAL_STATE_CHANGED", "Approval request changed state"
    APPROVAL_CONDITIONS_MET = "APPROVAL_CONDITIONS_MET", "Approval conditions recorded as met"
    SEPARATION_OF_DUTIES_REFUSED = "SEPARATION_OF_DUTIES_REFUSED", "Decision refused: separation of duties"
    GATE_DECIDED = "GATE_DECIDED", "Promotion gate decided"
    MODEL_VERSION_PROMOTED = "MODEL_VERSION_PROMOTED", "Model version moved to a stage"
    LINEAGE_EVENT_INGESTED = "LINEAGE_EVENT_INGESTED", "OpenLineage event ingested"
    LINEAGE_SNAPSHOT_TAKEN = "LINEAGE_SNAPSHOT_TAKEN", "Upstream lineage frozen at approval"
    DEPLOYMENT_RECORDED = "DEPLOYMENT_RECORDED", "Model version put into service"
    DEPLOYMENT_RETIRED = "DEPLOYMENT_RETIRED", "Deployment retired"
    PLUGIN_NOTIFICATION_FAILED = "PLUGIN_NOTIFICATION_FAILED", "A plugin failed to handle a notification"


class Role(models.TextChoices):
    """Roles are Django groups, created by a migration."""

    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    VALIDATOR = "validator", "Validator"
    MODEL_OWNER = "model_owner", "Model owner"
    CI_PIPELINE = "ci_pipeline", "CI pipeline"
    AUDITOR = "auditor", "Auditor"


class ApprovalState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions", "Approved with conditions"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"


OPEN_STATES = (ApprovalState.DRAFT, ApprovalState.SUBMITTED, ApprovalState.IN_REVIEW)
GRANTED_STATES = (ApprovalState.APPROVED, ApprovalState.APPROVED_WITH_CONDITIONS)

# The only moves a request can make; every other is a 409 invalid_transition.
TRANSITIONS: dict[str, set[str]] = {
    ApprovalState.DRAFT: {ApprovalState.SUBMITTED, ApprovalState.WITHDRAWN},
    ApprovalState.SUBMITTED: {ApprovalState.IN_REVIEW, ApprovalState.WITHDRAWN},
    ApprovalState.IN_REVIEW: {
        ApprovalState.IN_REVIEW,
        ApprovalState.APPROVED,
        ApprovalState.APPROVED_WITH_CONDITIONS,
        ApprovalState.REJECTED,
        ApprovalState.WITHDRAWN,
    },
    ApprovalState.APPROVED: {ApprovalState.EXPIRED, ApprovalState.SUPERSEDED},
    ApprovalState.APPROVED_WITH_CONDITIONS: {ApprovalState.APPROVED, ApprovalState.EXPIRED, ApprovalState.SUPERSEDED},
    ApprovalState.REJECTED: set(),
    ApprovalState.WITHDRAWN: set(),
    ApprovalState.EXPIRED: set(),
    ApprovalState.SUPERSEDED: set(),
}


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions", "Approve with conditions"


class EmailState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
