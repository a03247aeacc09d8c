"""Serializers of the audit-log API."""

import base64
from typing import Any

from rest_framework import serializers

from core.serializers import StrictInputSerializer
from governance.choices import Decision
from governance.models import ApprovalDecision, ApprovalRequest, AuditCheckpoint, AuditEntry


class AuditEntryOutput(serializers.ModelSerializer):
    seq = serializers.SerializerMethodField()
    entry = serializers.SerializerMethodField(help_text="base64 of the exact canonical bytes that are hashed")
    leaf_hash = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "seq",
            "created_at",
            "actor_name",
            "event_type",
            "subject_type",
            "subject_id",
            "subject_repr",
            "model_name",
            "before",
            "after",
            "request_id",
            "entry",
            "leaf_hash",
        ]
        read_only_fields = fields

    def get_seq(self, obj: AuditEntry) -> int | None:
        leaf = getattr(obj, "leaf", None)
        return leaf.seq if leaf is not None else None

    def get_entry(self, obj: AuditEntry) -> str:
        return base64.b64encode(bytes(obj.entry_bytes)).decode("ascii")

    def get_leaf_hash(self, obj: AuditEntry) -> str:
        return base64.b64encode(bytes(obj.leaf_hash)).decode("ascii")


class CheckpointOutput(serializers.ModelSerializer):
    root_hash = serializers.SerializerMethodField()

    class Meta:
        model = AuditCheckpoint
        fields = ["size", "root_hash", "note", "created_at"]
        read_only_fields = fields

    def get_root_hash(self, obj: AuditCheckpoint) -> str:
        return base64.b64encode(bytes(obj.root_hash)).decode("ascii")


class ProofQuery(serializers.Serializer):
    tree_size = serializers.IntegerField(min_value=0, required=False)


class ConsistencyQuery(serializers.Serializer):
    from_ = serializers.IntegerField(min_value=0)
    to = serializers.IntegerField(min_value=0)

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value({"from_": data.get("from"), "to": data.get("to")})


class ExportQuery(serializers.Serializer):
    from_ = serializers.IntegerField(min_value=0, required=False)
    to = serializers.IntegerField(min_value=0, required=False)

    def to_internal_value(self, data: Any) -> Any:
        values = {key: data.get(name) for key, name in (("from_", "from"), ("to", "to")) if data.get(name) is not None}
        return super().to_internal_value(values)


class ApprovalCreateInput(StrictInputSerializer):
    model = serializers.CharField(max_length=100)
    version = serializers.IntegerField(min_value=1)
    target_stage = serializers.CharField(max_length=20)
    comment = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")
    draft = serializers.BooleanField(required=False, default=False)


class ApprovalDecideInput(StrictInputSerializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")
    conditions = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")
    due_date = serializers.DateField(required=False, allow_null=True, default=None)


class ApprovalCommentInput(StrictInputSerializer):
    comment = serializers.CharField(max_length=5000, allow_blank=True, required=False, default="")


class ApprovalConditionsMetInput(StrictInputSerializer):
    evidence = serializers.CharField(max_length=5000)


class ApprovalDecisionOutput(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")
    step = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalDecision
        fields = ["step", "approver", "decision", "comment", "conditions", "due_date", "created_at"]
        read_only_fields = fields

    def get_step(self, obj: ApprovalDecision) -> int:
        return obj.step + 1


class ApprovalRequestOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.version")
    requester = serializers.CharField(source="requester.username")
    policy = serializers.SerializerMethodField()
    step = serializers.SerializerMethodField()
    decisions = ApprovalDecisionOutput(many=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "model",
            "version",
            "target_stage",
            "artifact_digest",
            "state",
            "step",
            "policy",
            "requester",
            "comment",
            "conditions",
            "conditions_due",
            "conditions_met_at",
            "decisions",
            "created_at",
            "submitted_at",
            "decided_at",
            "expires_at",
        ]
        read_only_fields = fields

    def get_policy(self, obj: ApprovalRequest) -> dict[str, Any]:
        return {"risk_tier": obj.policy.risk_tier, "version": obj.policy.version, "steps": obj.policy.steps}

    def get_step(self, obj: ApprovalRequest) -> dict[str, Any] | None:
        if obj.state != "in_review":
            return None
        step = obj.policy.steps[obj.current_step]
        return {"number": obj.current_step + 1, "of": len(obj.policy.steps), **step}
