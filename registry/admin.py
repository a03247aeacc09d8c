"""The compliance workspace for the inventory. Saving calls the same services as the API."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from core.errors import ApplicationError
from registry.choices import LineageKind
from registry.lineage.selectors import lineage_graph, lineage_impact
from registry.models import LineageNode, ModelVersion, RegisteredModel, SigningKey
from registry.selectors import model_version_verify, signing_key_list
from registry.services import (
    UPDATABLE_FIELDS,
    registered_model_create,
    registered_model_update,
    signing_key_register,
    signing_key_revoke,
)


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    can_delete = False
    show_change_link = False
    fields = (
        "version",
        "stage",
        "artifact_digest",
        "artifact_uri",
        "training_run_id",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    ordering = ["-version"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Versions are registered by pipelines with a signed manifest, not typed in.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).select_related("created_by", "model")


class ServiceErrorsAsMessages(admin.ModelAdmin):
    """An add or change page whose ``save_model`` calls a service: the service's domain error is shown
    as a message on the same page, and nothing is saved."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # save_model re-raises a service's domain error (not_team_member, unknown_user, ...) so that the
        # admin's transaction rolls the save back; the error is shown as a message, not a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError:
            return HttpResponseRedirect(request.get_full_path())


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ServiceErrorsAsMessages):
    list_display = ["name", "display_name", "risk_tier", "eu_ai_act_category", "owner", "team", "status"]
    list_filter = ["risk_tier", "versions__stage", "owner", "team", "status", "eu_ai_act_category"]
    search_fields = ["name", "display_name", "description"]
    list_select_related = ["owner", "team"]
    inlines = [ModelVersionInline]
    fields = ["name", *UPDATABLE_FIELDS]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["name"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # models are retired, never deleted (SR 11-7 keeps retired models in the inventory)

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form: Any, change: bool) -> None:
        try:
            if not change:
                data = form.cleaned_data
                created = registered_model_create(
                    actor=request.user,
                    name=data["name"],
                    team=data["team"].name,
                    owner=data["owner"].get_username(),
                    risk_tier=data["risk_tier"],
                    display_name=data.get("display_name", ""),
                    description=data.get("description", ""),
                    eu_ai_act_category=data["eu_ai_act_category"],
                    intended_use=data.get("intended_use", ""),
                    out_of_scope_use=data.get("out_of_scope_use", ""),
                    regulatory_scope=data.get("regulatory_scope") or [],
                )
                obj.pk = created.pk
                return
            changes: dict[str, Any] = {}
            for field in form.changed_data:
                if field not in UPDATABLE_FIELDS:
                    continue
                value = form.cleaned_data[field]
                if field == "owner":
                    value = value.get_username()
                elif field == "team":
                    value = value.name
                changes[field] = value
            if changes:
                registered_model_update(actor=request.user, model=obj, changes=changes)
        except ApplicationError as exc:
            messages.error(request, f"{exc.code}: {exc.message}")
            raise

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # No related rows are edited here (the versions inline is read-only). commit=False writes
        # nothing but lets each formset record that nothing changed, which the change message reads.
        for formset in formsets:
            formset.save(commit=False)


@admin.register(SigningKey)
class SigningKeyAdmin(ServiceErrorsAsMessages):
    """Register producer keys and revoke them; both go through the services (and the audit log). Each
    user sees the keys the API shows them: their teams' keys, or every key for those who may view every
    model."""

    list_display = ["name", "team", "algorithm", "fingerprint", "created_at", "revoked_at"]
    # Only the teams of the keys the user sees: a model owner is not shown every team's name.
    list_filter = [("team", admin.RelatedOnlyFieldListFilter), "algorithm", "revoked_at"]
    search_fields = ["name", "fingerprint"]
    list_select_related = ["team"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["team", "name", "public_key_pem"]
        return [
            "name",
            "team",
            "algorithm",
            "fingerprint",
            "public_key_pem",
            "created_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "revocation_reason",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key that signed versions must stay verifiable; revoke it instead

    def get_queryset(self, request: HttpRequest) -> QuerySet[SigningKey]:
        return signing_key_list(user=request.user)

    def save_model(self, request: HttpRequest, obj: SigningKey, form: Any, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        try:
            created = signing_key_register(
                actor=request.user, team=data["team"].name, name=data["name"], public_key_pem=data["public_key_pem"]
            )
        except ApplicationError as exc:
            messages.error(request, f"{exc.code}: {exc.message}")
            raise
        obj.pk = created.pk

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        # One service call (and transaction) per key: a key the user may not revoke is reported on its
        # own and the others are still revoked.
        revoked: list[str] = []
        already: list[str] = []
        for key in queryset:
            try:
                result = signing_key_revoke(actor=request.user, signing_key=key, reason="revoked in the admin")
            except ApplicationError as exc:
                messages.error(request, f"{key.name}: {exc.code}: {exc.message}")
                continue
            (already if key.revoked_at is not None else revoked).append(result.name)
        if revoked:
            self.message_user(request, f"Revoked {len(revoked)} key(s): {', '.join(revoked)}.", messages.SUCCESS)
        if already:
            self.message_user(request, f"Already revoked: {', '.join(already)}.", messages.INFO)
        if not queryset:
            self.message_user(request, "None of the selected keys is yours to revoke.", messages.WARNING)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """A version's page: read-only record, its signature checks and its upstream lineage."""

    list_display = ["__str__", "stage", "artifact_digest", "created_by", "created_at"]
    list_filter = ["stage"]
    search_fields = ["model__name", "artifact_digest", "training_run_id"]
    list_select_related = ["model", "created_by"]
    change_form_template = "admin/registry/modelversion/change_form.html"
    exclude = ["manifest", "producer_signature", "countersignature"]
    readonly_fields = [
        "model",
        "version",
        "stage",
        "artifact_uri",
        "artifact_digest",
        "signing_key",
        "countersignature_sha256",
        "training_run_id",
        "metrics",
        "parameters",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        context = dict(extra_context or {})
        version = self.get_object(request, object_id)
        if version is not None:
            context["verification"] = model_version_verify(version=version)
            node = LineageNode.objects.filter(model_version=version).first()
            context["lineage"] = lineage_graph(node=node, direction="upstream") if node else None
            context["snapshots"] = version.lineage_snapshots.all()
        return super().change_view(request, object_id, form_url, extra_context=context)


@admin.register(LineageNode)
class LineageNodeAdmin(admin.ModelAdmin):
    """Lineage nodes; a dataset's page shows every model version and active deployment downstream."""

    list_display = ["kind", "namespace", "name", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["namespace", "name"]
    change_form_template = "admin/registry/lineagenode/change_form.html"
    readonly_fields = ["kind", "namespace", "name", "facets", "model_version", "deployment", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        context = dict(extra_context or {})
        node = self.get_object(request, object_id)
        if node is not None:
            if node.kind == LineageKind.DATASET:
                context["impact"] = lineage_impact(dataset=node)
            context["lineage"] = lineage_graph(node=node, direction="both", depth=3)
        return super().change_view(request, object_id, form_url, extra_context=context)
