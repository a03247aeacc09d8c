"""Admin for governance records: the audit log is read-only for everyone, superusers included.
The approval admins live in governance/approvals/admin.py and register on import."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from governance.approvals import admin as approvals_admin  # noqa: F401  (registers the approval admins)
from governance.models import ApiToken, AuditCheckpoint, AuditEntry
from governance.services import api_token_revoke


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "event_type",
        "actor_name",
        "subject_repr",
        "model_name",
        "request_id",
    ]
    list_filter = ["event_type", "subject_type"]
    search_fields = ["subject_repr", "actor_name", "model_name", "request_id"]
    date_hierarchy = "created_at"
    exclude = ["entry_bytes", "leaf_hash"]
    readonly_fields = [
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
        "leaf_hash_hex",
    ]

    @admin.display(description="leaf hash")
    def leaf_hash_hex(self, obj: AuditEntry) -> str:
        return bytes(obj.leaf_hash).hex()

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return super().get_queryset(request).defer("entry_bytes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created with `manage.py create_api_token`, which shows the secret once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(actor=request.user, token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(admin.ModelAdmin):
    """Signed checkpoints, read-only: the notes a regulator pins and compares."""

    list_display = ["id", "size", "created_at"]
    readonly_fields = ["size", "note", "created_at"]
    exclude = ["root_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
