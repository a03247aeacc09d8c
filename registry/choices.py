"""Choices of the registry app."""

from django.db import models


class RiskTier(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class EuAiActCategory(models.TextChoices):
    """EU AI Act risk category (Art. 5, Art. 6 and Annex III, Art. 50, Art. 51)."""

    PROHIBITED = "prohibited", "Prohibited practice (Art. 5)"
    HIGH_RISK = "high_risk", "High-risk (Art. 6, Annex I/III)"
    LIMITED_RISK = "limited_risk", "Transparency obligations (Art. 50)"
    MINIMAL_RISK = "minimal_risk", "Minimal risk"
    GPAI = "gpai", "General-purpose AI model (Art. 51)"
    NOT_IN_SCOPE = "not_in_scope", "Outside the AI Act"


class ModelStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class Stage(models.TextChoices):
    NONE = "none", "None"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelPermission(models.TextChoices):
    """Object permissions on a RegisteredModel (django-guardian), as ``registry.<codename>``."""

    VIEW = "view_registeredmodel", "View"
    CHANGE = "change_registeredmodel", "Change"
    REGISTER_VERSION = "register_version", "Register a version"
    REQUEST_PROMOTION = "request_promotion", "Request promotion"
    APPROVE = "approve", "Approve"


class KeyAlgorithm(models.TextChoices):
    """Signature algorithms accepted for producer keys (OpenSSF model signing uses ECDSA P-256)."""

    ECDSA_P256 = "ecdsa-p256", "ECDSA P-256 with SHA-256"
    ED25519 = "ed25519", "Ed25519"


class LineageKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    JOB = "job", "Job"
    RUN = "run", "Run"
    MODEL_VERSION = "model_version", "Model version"
    DEPLOYMENT = "deployment", "Deployment"
