"""Audit-log endpoints: entries, proofs, checkpoints and export bundles."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import PermissionDenied
from governance.api.serializers import (
    AuditEntryOutput,
    CheckpointOutput,
    ConsistencyQuery,
    ExportQuery,
    ProofQuery,
)
from governance.audit.selectors import (
    audit_entry_list,
    checkpoint_latest,
    consistency_proof_get,
    inclusion_proof_get,
    reads_whole_log,
)
from governance.audit.services import audit_checkpoint_create, audit_log_export
from governance.errors import NoCheckpoint
from governance.filtersets import AuditEntryFilter
from governance.models import AuditEntry


class AuditEntryListApi(generics.ListAPIView):
    """Audit entries you may read, oldest first: all for auditors and compliance officers, else
    those about models you may view."""

    serializer_class = AuditEntryOutput
    filterset_class = AuditEntryFilter

    def get_queryset(self) -> QuerySet[AuditEntry]:
        return audit_entry_list(user=self.request.user)


class InclusionProofApi(generics.GenericAPIView):
    """An RFC 9162 inclusion proof of one entry in the tree of ``tree_size`` leaves (default: the
    latest checkpoint's size), with that checkpoint when one was signed at exactly that size."""

    serializer_class = ProofQuery

    @extend_schema(parameters=[OpenApiParameter("tree_size", int)])
    def get(self, request: Request, seq: str) -> Response:
        query = ProofQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            inclusion_proof_get(seq=int(seq), tree_size=query.validated_data.get("tree_size"), user=request.user)
        )


class ConsistencyProofApi(generics.GenericAPIView):
    """An RFC 9162 consistency proof between two tree sizes."""

    serializer_class = ConsistencyQuery

    @extend_schema(
        parameters=[OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True)]
    )
    def get(self, request: Request) -> Response:
        query = ConsistencyQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            consistency_proof_get(old_size=query.validated_data["from_"], new_size=query.validated_data["to"])
        )


class CheckpointLatestApi(generics.GenericAPIView):
    """The latest signed checkpoint; POST signs a new one now (compliance officers)."""

    serializer_class = CheckpointOutput

    def get(self, request: Request) -> Response:
        latest = checkpoint_latest()
        if latest is None:
            raise NoCheckpoint("No checkpoint has been signed yet.")
        return Response(CheckpointOutput(latest).data)

    def post(self, request: Request) -> Response:
        if not request.user.has_perm("governance.add_auditcheckpoint"):
            raise PermissionDenied("You may not sign checkpoints.", extra={"permission": "add_auditcheckpoint"})
        return Response(CheckpointOutput(audit_checkpoint_create()).data, status=status.HTTP_201_CREATED)


class ExportApi(generics.GenericAPIView):
    """A bundle of entries, checkpoints and proofs that `modelgov verify-log` checks offline."""

    serializer_class = ExportQuery

    @extend_schema(parameters=[OpenApiParameter("from", int), OpenApiParameter("to", int)])
    def get(self, request: Request) -> Response:
        if not reads_whole_log(request.user):
            raise PermissionDenied("Only auditors and compliance officers export the log.")
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        bundle = audit_log_export(
            actor=request.user, start=query.validated_data.get("from_"), end=query.validated_data.get("to")
        )
        return Response(bundle)
