"""Approval endpoints: request promotion, list, decide, withdraw, record conditions met."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.serializers import (
    ApprovalCommentInput,
    ApprovalConditionsMetInput,
    ApprovalCreateInput,
    ApprovalDecideInput,
    ApprovalRequestOutput,
)
from governance.approvals.selectors import approval_request_get, approval_request_list, approval_request_waiting_for
from governance.approvals.services import (
    approval_conditions_met,
    approval_request_create,
    approval_request_decide,
    approval_request_withdraw,
)
from governance.models import ApprovalRequest
from registry.selectors import model_version_get, registered_model_get


class ApprovalListCreateApi(generics.ListAPIView):
    """Promotion requests you may see (filters: ``waiting_for_me``, ``model``, ``state``); request one."""

    serializer_class = ApprovalRequestOutput

    def get_queryset(self) -> QuerySet[ApprovalRequest]:
        params = self.request.query_params
        if params.get("waiting_for_me") in {"1", "true", "yes"}:
            queryset = approval_request_waiting_for(user=self.request.user)
        else:
            queryset = approval_request_list(user=self.request.user)
        if params.get("model"):
            queryset = queryset.filter(model_version__model__name=params["model"])
        if params.get("state"):
            queryset = queryset.filter(state=params["state"])
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("waiting_for_me", bool),
            OpenApiParameter("model", str),
            OpenApiParameter("state", str),
        ]
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ApprovalCreateInput, responses={201: ApprovalRequestOutput})
    def post(self, request: Request) -> Response:
        data = ApprovalCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model = registered_model_get(name=values["model"], user=request.user)
        version = model_version_get(model=model, version=values["version"])
        created = approval_request_create(
            actor=request.user,
            model_version=version,
            target_stage=values["target_stage"],
            comment=values["comment"],
            submit=not values["draft"],
        )
        return Response(
            ApprovalRequestOutput(approval_request_get(pk=created.pk, user=request.user)).data,
            status=status.HTTP_201_CREATED,
        )


class ApprovalDetailApi(generics.GenericAPIView):
    serializer_class = ApprovalRequestOutput

    def get(self, request: Request, pk: str) -> Response:
        return Response(ApprovalRequestOutput(approval_request_get(pk=int(pk), user=request.user)).data)


class ApprovalDecideApi(generics.GenericAPIView):
    """Decide the open step: approve, reject (comment required) or approve with conditions (conditions
    and due date required). Separation of duties is enforced; a refusal is logged."""

    serializer_class = ApprovalRequestOutput

    @extend_schema(request=ApprovalDecideInput, responses=ApprovalRequestOutput)
    def post(self, request: Request, pk: str) -> Response:
        found = approval_request_get(pk=int(pk), user=request.user)
        data = ApprovalDecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        approval_request_decide(actor=request.user, request=found, **data.validated_data)
        return Response(ApprovalRequestOutput(approval_request_get(pk=found.pk, user=request.user)).data)


class ApprovalWithdrawApi(generics.GenericAPIView):
    serializer_class = ApprovalRequestOutput

    @extend_schema(request=ApprovalCommentInput, responses=ApprovalRequestOutput)
    def post(self, request: Request, pk: str) -> Response:
        found = approval_request_get(pk=int(pk), user=request.user)
        data = ApprovalCommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        approval_request_withdraw(actor=request.user, request=found, comment=data.validated_data["comment"])
        return Response(ApprovalRequestOutput(approval_request_get(pk=found.pk, user=request.user)).data)


class ApprovalConditionsMetApi(generics.GenericAPIView):
    serializer_class = ApprovalRequestOutput

    @extend_schema(request=ApprovalConditionsMetInput, responses=ApprovalRequestOutput)
    def post(self, request: Request, pk: str) -> Response:
        found = approval_request_get(pk=int(pk), user=request.user)
        data = ApprovalConditionsMetInput(data=request.data)
        data.is_valid(raise_exception=True)
        approval_conditions_met(actor=request.user, request=found, evidence=data.validated_data["evidence"])
        return Response(ApprovalRequestOutput(approval_request_get(pk=found.pk, user=request.user)).data)
