"""The model inventory."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import BaseModel
from registry.choices import EuAiActCategory, KeyAlgorithm, LineageKind, ModelStatus, RiskTier, Stage

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


class RegisteredModel(BaseModel):
    """A model in the inventory (SR 11-7 inventory record; EU AI Act Annex IV 1(a)).

    Its team is a Django group whose members get the model's object permissions.
    """

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[RegexValidator(SLUG_PATTERN, "Lowercase letters, digits and hyphens.")],
    )
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models")
    team = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="registered_models")
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, db_index=True)
    eu_ai_act_category = models.CharField(
        max_length=20, choices=EuAiActCategory.choices, default=EuAiActCategory.MINIMAL_RISK
    )
    intended_use = models.TextField(blank=True)
    out_of_scope_use = models.TextField(blank=True)
    regulatory_scope = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.ACTIVE)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("register_version", "Can register a version of the model"),
            ("request_promotion", "Can request promotion of the model's versions"),
            ("approve", "Can approve promotion of the model's versions"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(name__regex=SLUG_PATTERN), name="registeredmodel_name_slug"),
            models.CheckConstraint(condition=Q(risk_tier__in=RiskTier.values), name="registeredmodel_risk_tier_valid"),
            models.CheckConstraint(condition=Q(status__in=ModelStatus.values), name="registeredmodel_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class SigningKey(models.Model):
    """A producer's public key, registered to a team. Private keys never reach the service.
    A revoked key cannot sign new registrations; what it signed before stays verifiable."""

    name = models.CharField(max_length=200)
    team = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="signing_keys")
    algorithm = models.CharField(max_length=20, choices=KeyAlgorithm.choices)
    public_key_pem = models.TextField()
    fingerprint = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the DER public key")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revocation_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["team_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:16]})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ModelVersion(models.Model):
    """One registered artifact of a model. Its manifest, digest, number and creator never change:
    the service never writes them after creation and a database trigger rejects any attempt."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    artifact_uri = models.CharField(max_length=1000)
    manifest = models.JSONField()
    artifact_digest = models.CharField(max_length=71)
    metrics = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    training_run_id = models.CharField(max_length=200, blank=True)
    # The producer's DSSE envelope (or OMS Sigstore bundle) over the manifest, as submitted.
    producer_signature = models.JSONField()
    signing_key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="versions")
    # The service's DSSE envelope over an in-toto statement of this inventory record.
    countersignature = models.JSONField()
    countersignature_sha256 = models.CharField(max_length=64)
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.NONE, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set by the service: the countersigned record carries the same instant.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="modelversion_unique_number"),
            models.UniqueConstraint(fields=["model", "artifact_digest"], name="modelversion_unique_digest"),
            models.CheckConstraint(condition=Q(version__gte=1), name="modelversion_number_positive"),
            models.CheckConstraint(
                condition=Q(artifact_digest__regex=DIGEST_PATTERN), name="modelversion_digest_format"
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="modelversion_stage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"


class Deployment(models.Model):
    """A model version put into service in an environment (EU AI Act Art. 18 clock), until retired."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=500, blank=True)
    deployed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deployed_at = models.DateTimeField(auto_now_add=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-deployed_at"]

    def __str__(self) -> str:
        return f"{self.model_version} in {self.environment}"


class LineageEvent(models.Model):
    """A raw OpenLineage event exactly as received (run, dataset or job event). Its hash is logged;
    the same event sent again is recognised by the hash and creates nothing."""

    event_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10)  # run | dataset | job
    event_type = models.CharField(max_length=10, blank=True)  # START, COMPLETE, ... for run events
    event_time = models.DateTimeField()
    run_id = models.CharField(max_length=64, blank=True, db_index=True)
    job_namespace = models.CharField(max_length=500, blank=True)
    job_name = models.CharField(max_length=500, blank=True)
    producer = models.CharField(max_length=1000)
    payload = models.JSONField()
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.kind} event {self.event_hash[:12]}"


class LineageNode(models.Model):
    """A node of the lineage graph: a dataset, job, run, model version or deployment."""

    kind = models.CharField(max_length=20, choices=LineageKind.choices)
    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=1000)
    facets = models.JSONField(default=dict, blank=True)
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="lineage_node"
    )
    deployment = models.OneToOneField(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="lineage_node"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "namespace", "name"], name="lineagenode_unique_name")]
        indexes = [models.Index(fields=["namespace", "name"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class LineageEdge(models.Model):
    """A directed edge: data or control flows from ``source`` to ``target``."""

    # The unique pair and the index below lead with each column (no index of their own needed); the
    # index carries the edge id as well, so that an upstream walk and the edges of a walk's result are
    # read from the index alone (PostgreSQL; SQLite ignores INCLUDE).
    source = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="out_edges", db_index=False)
    target = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="in_edges", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="lineageedge_unique_pair")]
        indexes = [models.Index(fields=["target", "source"], include=["id"], name="lineageedge_target_source")]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id}"


class LineageSnapshot(models.Model):
    """The upstream lineage of a version frozen when it was approved for production: later events
    cannot rewrite what was approved. ``sha256`` is over the canonical JSON of ``graph`` and is logged."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="lineage_snapshots")
    approval_request_id = models.BigIntegerField(null=True, blank=True)
    graph = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"lineage of {self.model_version} at {self.created_at:%Y-%m-%d}"
