"""Registry endpoints: generic reads, explicit writes (STYLE.md, convention 5)."""

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.signing import KeyPurpose, fingerprint, public_key_pem, service_public_key
from registry.api.serializers import (
    ModelVersionInput,
    ModelVersionOutput,
    RegisteredModelInput,
    RegisteredModelOutput,
    RegisteredModelUpdateInput,
    SigningKeyInput,
    SigningKeyOutput,
    SigningKeyRevokeInput,
    VerificationOutput,
    model_version_data,
)
from registry.filtersets import RegisteredModelFilter
from registry.models import ModelVersion, RegisteredModel, SigningKey
from registry.selectors import (
    model_version_get,
    model_version_get_for_user,
    model_version_list,
    model_version_verify,
    registered_model_get,
    registered_model_list,
    signing_key_get,
    signing_key_list,
)
from registry.services import (
    model_version_register,
    registered_model_create,
    registered_model_update,
    signing_key_register,
    signing_key_revoke,
)


class RegisteredModelListCreateApi(generics.ListAPIView):
    """List the models you may view; register a new model."""

    serializer_class = RegisteredModelOutput
    filterset_class = RegisteredModelFilter
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, filters.OrderingFilter]
    search_fields = ["name", "display_name", "description", "intended_use"]
    ordering_fields = ["name", "created_at", "updated_at", "risk_tier"]

    def get_queryset(self) -> QuerySet[RegisteredModel]:
        return registered_model_list(user=self.request.user)

    @extend_schema(request=RegisteredModelInput, responses={201: RegisteredModelOutput})
    def post(self, request: Request) -> Response:
        data = RegisteredModelInput(data=request.data)
        data.is_valid(raise_exception=True)
        model = registered_model_create(actor=request.user, **data.validated_data)
        model = registered_model_get(name=model.name, user=request.user, with_latest_version=True)
        return Response(RegisteredModelOutput(model).data, status=status.HTTP_201_CREATED)


class RegisteredModelDetailApi(generics.GenericAPIView):
    """One model of the inventory; change its metadata."""

    serializer_class = RegisteredModelOutput

    @extend_schema(responses=RegisteredModelOutput)
    def get(self, request: Request, name: str) -> Response:
        return Response(
            RegisteredModelOutput(registered_model_get(name=name, user=request.user, with_latest_version=True)).data
        )

    @extend_schema(request=RegisteredModelUpdateInput, responses=RegisteredModelOutput)
    def patch(self, request: Request, name: str) -> Response:
        model = registered_model_get(name=name, user=request.user)
        data = RegisteredModelUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        registered_model_update(actor=request.user, model=model, changes=data.validated_data)
        return Response(
            RegisteredModelOutput(registered_model_get(name=name, user=request.user, with_latest_version=True)).data
        )


class ModelVersionListCreateApi(generics.ListAPIView):
    """The versions of a model, newest first; register a new version."""

    serializer_class = ModelVersionOutput

    def get_queryset(self) -> QuerySet[ModelVersion]:
        self.model = registered_model_get(name=self.kwargs["name"], user=self.request.user)
        return model_version_list(model=self.model)

    @extend_schema(request=ModelVersionInput, responses={201: ModelVersionOutput})
    def post(self, request: Request, name: str) -> Response:
        model = registered_model_get(name=name, user=request.user)
        data = ModelVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = model_version_register(actor=request.user, model=model, **data.validated_data)
        return Response(ModelVersionOutput(version).data, status=status.HTTP_201_CREATED)


class ModelVersionDetailApi(generics.GenericAPIView):
    """One version of a model."""

    serializer_class = ModelVersionOutput

    @extend_schema(responses=ModelVersionOutput)
    def get(self, request: Request, name: str, version: int) -> Response:
        return Response(
            model_version_data(model_version_get_for_user(name=name, version=int(version), user=request.user))
        )


class ModelVersionVerifyApi(generics.GenericAPIView):
    """Re-verify a version: its digest, the producer's signature, its key, and the countersignature."""

    serializer_class = VerificationOutput

    @extend_schema(responses=VerificationOutput)
    def get(self, request: Request, name: str, version: int) -> Response:
        model = registered_model_get(name=name, user=request.user)
        found = model_version_get(model=model, version=int(version))
        checks = model_version_verify(version=found)
        body = {
            "model": model.name,
            "version": found.version,
            "artifact_digest": found.artifact_digest,
            "valid": all(check.ok for check in checks if check.name != "signing_key_active"),
            "checks": [check.__dict__ for check in checks],
        }
        return Response(VerificationOutput(body).data)


class SigningKeyListCreateApi(generics.ListAPIView):
    """Producer keys of your teams; register a new one."""

    serializer_class = SigningKeyOutput

    def get_queryset(self) -> QuerySet[SigningKey]:
        return signing_key_list(user=self.request.user)

    @extend_schema(request=SigningKeyInput, responses={201: SigningKeyOutput})
    def post(self, request: Request) -> Response:
        data = SigningKeyInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = signing_key_register(actor=request.user, **data.validated_data)
        return Response(SigningKeyOutput(key).data, status=status.HTTP_201_CREATED)


class SigningKeyRevokeApi(generics.GenericAPIView):
    """Revoke a producer key: it signs no new registration."""

    serializer_class = SigningKeyOutput

    @extend_schema(request=SigningKeyRevokeInput, responses=SigningKeyOutput)
    def post(self, request: Request, fingerprint: str) -> Response:
        key = signing_key_get(fingerprint=fingerprint, user=request.user)
        data = SigningKeyRevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = signing_key_revoke(actor=request.user, signing_key=key, reason=data.validated_data["reason"])
        return Response(SigningKeyOutput(key).data)


class ServiceKeySerializer(serializers.Serializer):
    purpose = serializers.CharField()
    algorithm = serializers.CharField()
    fingerprint = serializers.CharField()
    public_key_pem = serializers.CharField()


class ServiceKeyListApi(generics.GenericAPIView):
    """The service's public keys, each with its purpose; public, so that anyone can verify."""

    serializer_class = ServiceKeySerializer
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(responses=ServiceKeySerializer(many=True))
    def get(self, request: Request) -> Response:
        keys = []
        for purpose in KeyPurpose:
            public = service_public_key(purpose)
            keys.append(
                {
                    "purpose": purpose.value,
                    "algorithm": "ed25519",
                    "fingerprint": fingerprint(public),
                    "public_key_pem": public_key_pem(public),
                }
            )
        return Response({"keys": ServiceKeySerializer(keys, many=True).data})
