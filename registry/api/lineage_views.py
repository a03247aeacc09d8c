"""Lineage endpoints: OpenLineage ingestion (Marquez-compatible path), graph and impact queries,
and deployments."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import PermissionDenied
from core.serializers import StrictInputSerializer
from registry.choices import LineageKind
from registry.errors import DeploymentNotFound
from registry.lineage.selectors import (
    DEFAULT_DEPTH,
    DEFAULT_LIMIT,
    MAX_DEPTH,
    deployment_list,
    lineage_graph,
    lineage_impact,
    lineage_node_get,
)
from registry.lineage.services import deployment_record, deployment_retire, lineage_event_ingest
from registry.models import Deployment
from registry.selectors import model_version_get, registered_model_get, registered_model_list


class LineageIngestApi(generics.GenericAPIView):
    """POST an OpenLineage RunEvent, DatasetEvent or JobEvent (spec 2-0-2). 201 when stored, 200 when
    the same event was already stored (nothing new is created)."""

    serializer_class = serializers.Serializer

    def post(self, request: Request) -> Response:
        if not request.user.has_perm("registry.add_lineageevent"):
            raise PermissionDenied("You may not send lineage events.", extra={"permission": "add_lineageevent"})
        event, created = lineage_event_ingest(actor=request.user, payload=request.data)
        body = {"event_sha256": event.event_hash, "kind": event.kind, "created": created}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class GraphQuery(StrictInputSerializer):
    id = serializers.IntegerField(required=False, min_value=1)
    type = serializers.ChoiceField(choices=LineageKind.choices, required=False)
    namespace = serializers.CharField(max_length=500, required=False)
    name = serializers.CharField(max_length=1000, required=False)
    direction = serializers.ChoiceField(choices=["upstream", "downstream", "both"], default="upstream")
    depth = serializers.IntegerField(min_value=1, max_value=MAX_DEPTH, default=DEFAULT_DEPTH)
    limit = serializers.IntegerField(min_value=1, max_value=50_000, default=DEFAULT_LIMIT)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "id" not in attrs and not {"type", "namespace", "name"} <= set(attrs):
            raise serializers.ValidationError(
                {"non_field_errors": ["Name a node by id, or by type, namespace and name."]}
            )
        return attrs


class LineageGraphApi(generics.GenericAPIView):
    serializer_class = GraphQuery

    @extend_schema(parameters=[GraphQuery])
    def get(self, request: Request) -> Response:
        query = GraphQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        values = query.validated_data
        node = lineage_node_get(
            node_id=values.get("id"),
            kind=values.get("type", ""),
            namespace=values.get("namespace", ""),
            name=values.get("name", ""),
        )
        return Response(
            lineage_graph(node=node, direction=values["direction"], depth=values["depth"], limit=values["limit"])
        )


class ImpactQuery(StrictInputSerializer):
    namespace = serializers.CharField(max_length=500)
    name = serializers.CharField(max_length=1000)


class LineageImpactApi(generics.GenericAPIView):
    """Every model version and active deployment downstream of a dataset."""

    serializer_class = ImpactQuery

    @extend_schema(parameters=[ImpactQuery])
    def get(self, request: Request) -> Response:
        query = ImpactQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        dataset = lineage_node_get(kind=LineageKind.DATASET, **query.validated_data)
        impact = lineage_impact(dataset=dataset)
        visible = set(registered_model_list(user=request.user).values_list("name", flat=True))
        impact["model_versions"] = [item for item in impact["model_versions"] if item["model"] in visible]
        impact["deployments"] = [item for item in impact["deployments"] if item["model"] in visible]
        return Response(impact)


class DeploymentInput(StrictInputSerializer):
    model = serializers.CharField(max_length=100)
    version = serializers.IntegerField(min_value=1)
    environment = serializers.RegexField(r"^[A-Za-z0-9._-]{1,100}$")
    endpoint = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class DeploymentOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.version")
    deployed_by = serializers.CharField(source="deployed_by.username")
    active = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "model",
            "version",
            "environment",
            "endpoint",
            "deployed_by",
            "deployed_at",
            "retired_at",
            "active",
        ]
        read_only_fields = fields

    def get_active(self, obj: Deployment) -> bool:
        return obj.retired_at is None


class DeploymentListCreateApi(generics.ListAPIView):
    serializer_class = DeploymentOutput

    def get_queryset(self) -> QuerySet[Deployment]:
        return deployment_list().filter(model_version__model__in=registered_model_list(user=self.request.user))

    @extend_schema(request=DeploymentInput, responses={201: DeploymentOutput})
    def post(self, request: Request) -> Response:
        data = DeploymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model = registered_model_get(name=values["model"], user=request.user)
        version = model_version_get(model=model, version=values["version"])
        deployment = deployment_record(
            actor=request.user, version=version, environment=values["environment"], endpoint=values["endpoint"]
        )
        return Response(DeploymentOutput(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentRetireApi(generics.GenericAPIView):
    serializer_class = DeploymentOutput

    def post(self, request: Request, pk: str) -> Response:
        deployment = (
            deployment_list()
            .filter(pk=int(pk), model_version__model__in=registered_model_list(user=request.user))
            .first()
        )
        if deployment is None:
            raise DeploymentNotFound(f"No deployment {pk}.", extra={"deployment": int(pk)})
        return Response(DeploymentOutput(deployment_retire(actor=request.user, deployment=deployment)).data)
