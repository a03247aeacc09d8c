"""Assertion helpers shared by the test modules."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import ProgrammingError, connection, transaction
from guardian.models import GroupObjectPermission, UserObjectPermission

from governance.models import ApiToken, AuditEntry
from registry.models import ModelVersion, RegisteredModel, SigningKey


def db_state() -> dict[str, Any]:
    """Every row a request of the inventory API could write, in full (token use times excepted:
    they are a read's bookkeeping, not a change)."""
    return {
        "audit": list(AuditEntry.objects.order_by("id").values_list("id", "event_type", "subject_id")),
        "models": list(RegisteredModel.objects.order_by("pk").values()),
        "versions": list(ModelVersion.objects.order_by("pk").values()),
        "tokens": list(ApiToken.objects.order_by("pk").values("pk", "key_hash", "expires_at", "revoked_at")),
        "signing_keys": list(SigningKey.objects.order_by("pk").values()),
        "users": list(get_user_model().objects.order_by("pk").values("pk", "username", "is_active")),
        "user_perms": sorted(UserObjectPermission.objects.values_list("user_id", "permission_id", "object_pk")),
        "group_perms": sorted(GroupObjectPermission.objects.values_list("group_id", "permission_id", "object_pk")),
    }


@contextmanager
def nothing_written() -> Iterator[None]:
    """Asserts that the block leaves every inventory, audit, token and permission row as it was."""
    before = db_state()
    yield
    after = db_state()
    assert after == before


def iso_z(value: Any) -> str:
    """A datetime as the API renders it (ISO 8601, UTC as "Z")."""
    return str(value.isoformat()).replace("+00:00", "Z")


def audit_entries_after(last_id: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(id__gt=last_id).order_by("id"))


def last_audit_id() -> int:
    entry = AuditEntry.objects.order_by("-id").first()
    return entry.id if entry is not None else 0


def model_perms(model: RegisteredModel) -> dict[str, list[str]]:
    """Object permissions on ``model``: "user:<name>" / "group:<name>" -> sorted codenames."""
    held: dict[str, list[str]] = {}
    on_model = {"content_type": ContentType.objects.get_for_model(RegisteredModel), "object_pk": str(model.pk)}
    for perm in UserObjectPermission.objects.filter(**on_model).select_related("user", "permission"):
        held.setdefault(f"user:{perm.user.username}", []).append(perm.permission.codename)
    for gperm in GroupObjectPermission.objects.filter(**on_model).select_related("group", "permission"):
        held.setdefault(f"group:{gperm.group.name}", []).append(gperm.permission.codename)
    return {holder: sorted(codenames) for holder, codenames in held.items()}


TEAM_CODENAMES = sorted(["view_registeredmodel", "change_registeredmodel", "register_version", "request_promotion"])
# Every model's promotions may be approved by these roles (separation of duties is checked per decision).
APPROVER_PERMS = {"group:compliance_officer": ["approve"], "group:validator": ["approve"]}


class _FormFields(HTMLParser):
    """Collects what a browser would submit from the admin's main form: inputs, selects, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, Any] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        name = attr.get("name")
        if tag == "input" and name and attr.get("type") not in {"submit", "button", "file"}:
            if attr.get("type") in {"checkbox", "radio"}:
                if "checked" in attr:
                    self.fields[name] = attr.get("value") or "on"
            else:
                self.fields[name] = attr.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.fields.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attr:
            self.fields[self._select] = attr.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data.removeprefix("\n") if not self.fields[self._textarea] else data


def form_fields(html: str) -> dict[str, Any]:
    """The fields an admin add/change page would post back unchanged (CSRF token excluded)."""
    parser = _FormFields()
    parser.feed(html)
    parser.fields.pop("csrfmiddlewaretoken", None)
    return parser.fields


def assert_audited(last_id: int, *expected: tuple[str, str, str]) -> list[AuditEntry]:
    """The entries written after ``last_id`` are exactly ``expected``: (event_type, actor_name, model_name)."""
    entries = audit_entries_after(last_id)
    assert [(entry.event_type, entry.actor_name, entry.model_name) for entry in entries] == list(expected)
    return entries


INSUFFICIENT_PRIVILEGE = "42501"


def refused_by_database(sql: str, params: Any = None, *, setup: Sequence[str] = ()) -> str:
    """Run ``setup`` then ``sql`` in a transaction of their own (rolled back): the database must refuse
    ``sql`` with insufficient_privilege (a guard trigger's error); returns its message."""
    with pytest.raises(ProgrammingError) as raised, transaction.atomic(), connection.cursor() as cursor:
        for statement in setup:
            cursor.execute(statement)
        cursor.execute(sql, params)
    assert raised.value.__cause__.pgcode == INSUFFICIENT_PRIVILEGE
    return str(raised.value)
