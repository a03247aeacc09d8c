"""Input and output serializers of the registry API. Inputs only parse; services decide."""

from typing import Any

from rest_framework import serializers

from core.serializers import StrictInputSerializer, storable_json
from registry.choices import EuAiActCategory, ModelStatus, RiskTier
from registry.models import SLUG_PATTERN, ModelVersion, RegisteredModel, SigningKey
from registry.services import UPDATABLE_FIELDS


def optional_text(max_length: int) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, allow_blank=True, required=False)


class RegisteredModelInput(StrictInputSerializer):
    name = serializers.RegexField(SLUG_PATTERN, max_length=100)
    team = serializers.CharField(max_length=150)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    owner = serializers.CharField(max_length=150, required=False)
    display_name = optional_text(200)
    description = optional_text(10_000)
    eu_ai_act_category = serializers.ChoiceField(choices=EuAiActCategory.choices, required=False)
    intended_use = optional_text(10_000)
    out_of_scope_use = optional_text(10_000)
    regulatory_scope = serializers.ListField(child=serializers.CharField(max_length=100), max_length=50, required=False)


class RegisteredModelUpdateInput(StrictInputSerializer):
    owner = serializers.CharField(max_length=150, required=False)
    team = serializers.CharField(max_length=150, required=False)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    status = serializers.ChoiceField(choices=ModelStatus.choices, required=False)
    display_name = optional_text(200)
    description = optional_text(10_000)
    eu_ai_act_category = serializers.ChoiceField(choices=EuAiActCategory.choices, required=False)
    intended_use = optional_text(10_000)
    out_of_scope_use = optional_text(10_000)
    regulatory_scope = serializers.ListField(child=serializers.CharField(max_length=100), max_length=50, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give at least one field to change."]})
        return attrs


class RegisteredModelOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    team = serializers.CharField(source="team.name")
    latest_version = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = RegisteredModel
        fields = ["name", *UPDATABLE_FIELDS, "latest_version", "created_at", "updated_at"]
        read_only_fields = fields


class ModelVersionInput(StrictInputSerializer):
    artifact_uri = serializers.CharField(max_length=1000)
    signature = serializers.DictField(
        help_text="DSSE envelope or OMS Sigstore bundle over the manifest", validators=[storable_json]
    )
    signing_key = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="fingerprint of a key of the model's team")
    manifest = serializers.DictField(required=False, validators=[storable_json])
    artifact_digest = serializers.RegexField(r"^sha256:[0-9a-f]{64}$", required=False)
    metrics = serializers.DictField(required=False, validators=[storable_json])
    parameters = serializers.DictField(required=False, validators=[storable_json])
    training_run_id = serializers.CharField(max_length=200, allow_blank=True, required=False)


# The keys of a version's representation, in order: the serializer's fields and model_version_data's keys.
MODEL_VERSION_FIELDS = (
    "model",
    "version",
    "artifact_uri",
    "artifact_digest",
    "manifest",
    "metrics",
    "parameters",
    "training_run_id",
    "stage",
    "signing_key",
    "producer_signature",
    "countersignature",
    "countersignature_sha256",
    "created_by",
    "created_at",
)


class ModelVersionOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    created_by = serializers.CharField(source="created_by.username")
    signing_key = serializers.CharField(source="signing_key.fingerprint")

    class Meta:
        model = ModelVersion
        fields = list(MODEL_VERSION_FIELDS)
        read_only_fields = fields


def model_version_data(version: ModelVersion) -> dict[str, Any]:
    """ModelVersionOutput(version).data built directly: the same keys, order and values (a test holds
    them equal), at a fraction of the cost on the hottest read of the API. The serializer stays the
    schema of the response."""
    return {
        "model": version.model.name,
        "version": version.version,
        "artifact_uri": version.artifact_uri,
        "artifact_digest": version.artifact_digest,
        "manifest": version.manifest,
        "metrics": version.metrics,
        "parameters": version.parameters,
        "training_run_id": version.training_run_id,
        "stage": version.stage,
        "signing_key": version.signing_key.fingerprint,
        "producer_signature": version.producer_signature,
        "countersignature": version.countersignature,
        "countersignature_sha256": version.countersignature_sha256,
        "created_by": version.created_by.username,
        "created_at": format_datetime(version.created_at),
    }


_datetime_field = serializers.DateTimeField()


def format_datetime(value: Any) -> Any:
    """A datetime as the API's DateTimeField fields render it."""
    return _datetime_field.to_representation(value)


class VerificationCheckOutput(serializers.Serializer):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    reason = serializers.CharField()


class VerificationOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    artifact_digest = serializers.CharField()
    valid = serializers.BooleanField()
    checks = VerificationCheckOutput(many=True)


class SigningKeyInput(StrictInputSerializer):
    team = serializers.CharField(max_length=150)
    name = serializers.CharField(max_length=200)
    public_key_pem = serializers.CharField(max_length=10_000)


class SigningKeyRevokeInput(StrictInputSerializer):
    reason = serializers.CharField(max_length=500)


class SigningKeyOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    created_by = serializers.CharField(source="created_by.username")
    revoked_by = serializers.CharField(source="revoked_by.username", allow_null=True, default=None)
    active = serializers.BooleanField(source="is_active")

    class Meta:
        model = SigningKey
        fields = [
            "fingerprint",
            "name",
            "team",
            "algorithm",
            "public_key_pem",
            "active",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
        ]
        read_only_fields = fields
