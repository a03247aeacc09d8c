"""Governance records: the append-only audit log and API tokens."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One event in the append-only audit log.

    ``entry_bytes`` are the exact canonical JSON bytes of the event and ``leaf_hash`` is
    SHA-256(0x00 || entry_bytes) (RFC 6962 leaf); verifiers hash the stored bytes and never
    re-serialize. The columns beside them are indexes over the same facts for filtering.
    Database triggers reject UPDATE, DELETE and TRUNCATE. The actor is kept as a bare id without a
    foreign-key constraint plus a frozen name: SET_NULL on user deletion would be an UPDATE of an
    append-only row.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150)
    # Stable codes from governance.choices.AuditEvent; not a DB choice list, so new codes need no migration.
    event_type = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    subject_repr = models.CharField(max_length=300)
    # The model the event is about, if any: whoever may view that model may read the entry.
    model_name = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    entry_bytes = models.BinaryField()
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        ordering = ["id"]
        # Filters are equalities: plain indexes, not db_index=True (which on PostgreSQL adds a second,
        # pattern-matching index per text column that every audited write would pay for).
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["event_type"], name="auditentry_event_type"),
            models.Index(fields=["model_name"], name="auditentry_model_name"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type} {self.subject_repr}"


class ApiToken(models.Model):
    """A machine credential. Only the SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class AuditLeaf(models.Model):
    """The position of an entry in the transparency log.

    Writers only insert AuditEntry rows; the integrator (governance.audit.services.audit_log_integrate)
    gives committed entries the next contiguous ``seq`` under an advisory lock and stores their leaf
    here, so rolled-back entries leave no gap and writers never contend on a "head" row.
    """

    seq = models.BigIntegerField(primary_key=True)
    # No foreign-key constraint, as on the queue: the integrator takes the ids from the queue, which the
    # entries' own INSERTs filled; the check at commit locked each entry row (a WAL record and a dirty
    # page per entry, a third of an integration's cost) and proved nothing that verification does not:
    # both verifiers report a leaf whose entry is missing.
    entry = models.OneToOneField(AuditEntry, on_delete=models.DO_NOTHING, db_constraint=False, related_name="leaf")
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["seq"]
        constraints = [models.CheckConstraint(condition=models.Q(seq__gte=0), name="auditleaf_seq_nonnegative")]

    def __str__(self) -> str:
        return f"leaf {self.seq}"


class AuditPending(models.Model):
    """Entries committed but not yet given a seq: the integrator's queue. Deleting a row here only
    dequeues it; the entry itself stays, and verification reports any entry without a leaf."""

    # No foreign-key constraint: the row is made from the entry's own INSERT … RETURNING in the same
    # statement, so the check at commit (a lookup and a row lock on the entry) would prove nothing.
    entry = models.OneToOneField(
        AuditEntry, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    leaf_hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"pending entry {self.entry_id}"


class AuditTreeNode(models.Model):
    """The root hash of a perfect subtree of 2**level leaves starting at leaf index * 2**level
    (level >= 1; level 0 is AuditLeaf). Persisted when complete, so a proof takes O(log n) reads."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="audittreenode_unique_position"),
            models.CheckConstraint(condition=models.Q(level__gte=1), name="audittreenode_level_positive"),
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class AuditCheckpoint(models.Model):
    """A signed statement of the log's size and root (C2SP tlog-checkpoint as an Ed25519 signed note).
    Never signed unless consistent with the previous checkpoint."""

    size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField(help_text="The signed note, exactly as signed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"checkpoint size {self.size}"


class ApprovalPolicy(models.Model):
    """Who must approve a promotion, per risk tier and target stage. Versioned: a change creates a
    new version and open requests keep the version they started under.

    ``steps`` is an ordered list of ``{"name", "role", "quorum"}``: ``quorum`` distinct people holding
    ``role`` (a group) must approve a step before the next one opens.
    """

    risk_tier = models.CharField(max_length=10)
    target_stage = models.CharField(max_length=12)
    version = models.PositiveIntegerField()
    steps = models.JSONField()
    approval_lifetime_days = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "approval policies"
        ordering = ["risk_tier", "target_stage", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["risk_tier", "target_stage", "version"], name="approvalpolicy_unique_version"
            ),
            models.UniqueConstraint(
                fields=["risk_tier", "target_stage"],
                condition=models.Q(is_current=True),
                name="approvalpolicy_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.risk_tier} → {self.target_stage} v{self.version}"


class ApprovalRequest(models.Model):
    """A request to promote one model version to a stage, bound to the version's artifact digest and
    to the policy version it started under. Its state changes only through the approval services."""

    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="approvals")
    target_stage = models.CharField(max_length=12)
    artifact_digest = models.CharField(max_length=71)
    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=30, default="draft", db_index=True)
    current_step = models.PositiveSmallIntegerField(default=0, help_text="0-based index of the open step")
    comment = models.TextField(blank=True)
    conditions = models.TextField(blank=True)
    conditions_due = models.DateField(null=True, blank=True)
    conditions_met_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    expiry_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open request per version and stage.
            models.UniqueConstraint(
                fields=["model_version", "target_stage"],
                condition=models.Q(state__in=["draft", "submitted", "in_review"]),
                name="approvalrequest_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"request #{self.pk}: {self.model_version} → {self.target_stage}"


class ApprovalDecision(models.Model):
    """One person's decision on one step of a request. Append-only in spirit: never edited."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.PROTECT, related_name="decisions")
    step = models.PositiveSmallIntegerField()
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=30)
    comment = models.TextField(blank=True)
    conditions = models.TextField(blank=True)
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request_id", "step", "created_at"]
        constraints = [
            # Separation of duties: one person decides at most one step of a request.
            models.UniqueConstraint(fields=["request", "approver"], name="approvaldecision_one_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver} on step {self.step + 1}"


class EmailDelivery(models.Model):
    """One email: queued in the transaction that causes it, sent by a Celery task after commit.
    ``key`` makes it idempotent: the same notification is never queued or sent twice."""

    key = models.CharField(max_length=200, unique=True)
    template = models.CharField(max_length=100)
    to = models.JSONField()
    subject = models.CharField(max_length=300)
    context = models.JSONField(default=dict)
    approval_request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="emails"
    )
    state = models.CharField(max_length=10, default="queued", db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "email deliveries"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.template} to {', '.join(self.to)} ({self.state})"


class GateDecision(models.Model):
    """One answer of the promotion gate, with every check's vote and the signed DSSE envelope the
    pipeline keeps as evidence. Logged (GATE_DECIDED) with the envelope's hash."""

    id = models.UUIDField(primary_key=True)
    model_version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="gate_decisions")
    target_stage = models.CharField(max_length=12)
    requested_digest = models.CharField(max_length=80)
    decision = models.CharField(max_length=5)
    checks = models.JSONField()
    pipeline = models.JSONField(default=dict)
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    approval_request = models.ForeignKey(
        ApprovalRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="gate_decisions"
    )
    envelope = models.JSONField()
    envelope_sha256 = models.CharField(max_length=64)
    dry_run = models.BooleanField(default=False)
    promoted = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"gate {self.decision} {self.model_version} → {self.target_stage}"
