"""POST /api/v1/gate/promotions: the call a pipeline makes before it deploys."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.serializers import StrictInputSerializer, storable_json
from governance.gate.selectors import gate_subject
from governance.gate.services import gate_evaluate
from hooks.events import PipelineInfo


class PipelineInput(StrictInputSerializer):
    system = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")
    run_id = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    url = serializers.CharField(max_length=1000, allow_blank=True, required=False, default="")
    commit = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")
    metadata = serializers.DictField(required=False, default=dict, validators=[storable_json])


# ModelVersion.version is a PostgreSQL integer: a larger number would fail in the database, not here.
MAX_VERSION = 2**31 - 1


class GateInput(StrictInputSerializer):
    model = serializers.CharField(max_length=100)
    version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION)
    target_stage = serializers.CharField(max_length=20)
    artifact_digest = serializers.RegexField(r"^sha256:[0-9a-f]{64}$")
    pipeline = PipelineInput(required=False)
    dry_run = serializers.BooleanField(required=False, default=False)
    promote = serializers.BooleanField(required=False, default=False)
    # The caller's own value, signed into the decision: a client that sends a fresh one knows the
    # answer is to this request, not an older one replayed.
    nonce = serializers.RegexField(r"^[A-Za-z0-9._~-]{1,128}\Z", required=False, default=None)


_GATE_INPUT = GateInput()


class CheckOutput(serializers.Serializer):
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["pass", "fail", "error"])
    reason = serializers.CharField()
    details = serializers.DictField()


class GateOutput(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["allow", "deny"])
    decision_id = serializers.UUIDField()
    checks = CheckOutput(many=True)
    policy_version = serializers.IntegerField(allow_null=True)
    audit_seq = serializers.IntegerField(allow_null=True)
    promoted = serializers.BooleanField()
    dry_run = serializers.BooleanField()
    envelope = serializers.DictField()


class GatePromotionApi(generics.GenericAPIView):
    """Run every check. A deny is a 200 whose decision is deny; bad input is a 4xx with a code; an
    internal failure is a 5xx, never an allow. ``envelope`` is a DSSE-signed in-toto statement of
    the decision (subject: the artifact digest), verifiable with the gate_decision key of /api/v1/keys/."""

    serializer_class = GateOutput

    @extend_schema(request=GateInput, responses=GateOutput)
    def post(self, request: Request) -> Response:
        # One GateInput serves every request: a new instance deep-copies every declared field, which
        # costs twice what validating does, and validation keeps no state on the instance. The errors
        # are those of is_valid(raise_exception=True).
        values: dict[str, Any] = _GATE_INPUT.run_validation(request.data)
        version, facts = gate_subject(
            name=values["model"], version=values["version"], actor=request.user, stage=values["target_stage"]
        )
        decision, seq = gate_evaluate(
            actor=request.user,
            version=version,
            target_stage=values["target_stage"],
            artifact_digest=values["artifact_digest"],
            pipeline=PipelineInfo(**values.get("pipeline", {})),
            dry_run=values["dry_run"],
            promote=values["promote"],
            nonce=values["nonce"],
            facts=facts,
        )
        # The body as GateOutput describes it (the schema), built directly: every value is already what
        # the serializer would render, and the gate answers on every deploy.
        body = {
            "decision": decision.decision,
            "decision_id": str(decision.id),
            "checks": decision.checks,
            "policy_version": decision.policy_version,
            "audit_seq": seq,
            "promoted": decision.promoted,
            "dry_run": decision.dry_run,
            "envelope": decision.envelope,
        }
        return Response(body)
