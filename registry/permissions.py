"""Who may do what to a registered model: a global permission (roles) or a guardian object permission."""

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.shortcuts import assign_perm, remove_perm

from registry.choices import ModelPermission
from registry.models import RegisteredModel

# What a model's team and its owner hold on the model from the moment it is created.
TEAM_PERMISSIONS = (
    ModelPermission.VIEW,
    ModelPermission.CHANGE,
    ModelPermission.REGISTER_VERSION,
    ModelPermission.REQUEST_PROMOTION,
)


def perm_name(permission: ModelPermission) -> str:
    return f"registry.{permission.value}"


# (content type id, permission id) by codename: resolved once per process, forgotten after every migrate
# or flush (registry.apps connects post_migrate), so ids recreated by a flush are looked up again.
_PERMISSION_IDS: dict[str, tuple[int, int]] = {}


def forget_permission_ids(**_kwargs: Any) -> None:
    _PERMISSION_IDS.clear()


def _permission_ids(permission: ModelPermission) -> tuple[int, int]:
    found = _PERMISSION_IDS.get(permission.value)
    if found is None:
        content_type = ContentType.objects.get_for_model(RegisteredModel, for_concrete_model=True)
        permission_id = Permission.objects.only("id").get(content_type=content_type, codename=permission.value).pk
        found = _PERMISSION_IDS[permission.value] = (content_type.pk, permission_id)
    return found


def model_perm_condition(permission: ModelPermission, user: Any, object_sql: str) -> tuple[str, list[Any]]:
    """An SQL condition that is true when ``user`` holds ``permission`` on the model whose id is the SQL
    expression ``object_sql`` (a fixed column name or an integer literal): what ModelBackend (global
    permissions, direct or through a group) and guardian's ObjectPermissionBackend (object permissions,
    direct or through a group) answer with four queries. The permission's ids are parameters, so the
    statement stays small for the planner (planning, not execution, is most of its cost).

    ``OFFSET 0`` (PostgreSQL) keeps each object-permission test a probe of its index for the one model at hand:
    without it PostgreSQL may turn the correlated EXISTS into a hash of every object the user (or
    their groups) holds the permission on, which for an account in many teams is thousands of rows
    on every call."""
    content_type_id, permission_id = _permission_ids(permission)
    object_pk = f"CAST({object_sql} AS VARCHAR(255))"
    probe = " OFFSET 0" if connection.vendor == "postgresql" else ""  # SQLite has no OFFSET without LIMIT
    sql = f"""(
    EXISTS (SELECT 1 FROM auth_user_user_permissions up WHERE up.user_id = %s AND up.permission_id = %s)
    OR EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
               WHERE ug.user_id = %s AND gp.permission_id = %s)
    OR EXISTS (SELECT 1 FROM guardian_userobjectpermission uo
               WHERE uo.user_id = %s AND uo.permission_id = %s AND uo.content_type_id = %s
                 AND uo.object_pk = {object_pk}{probe})
    OR EXISTS (SELECT 1 FROM auth_user_groups ug JOIN guardian_groupobjectpermission go ON go.group_id = ug.group_id
               WHERE ug.user_id = %s AND go.permission_id = %s AND go.content_type_id = %s
                 AND go.object_pk = {object_pk}{probe})
)"""  # noqa: S608 (only the caller's fixed column expression or an int literal is interpolated)
    user_id = user.pk
    params = [user_id, permission_id, user_id, permission_id]
    params += [user_id, permission_id, content_type_id, user_id, permission_id, content_type_id]
    return sql, params


def user_has_model_perm(user: Any, permission: ModelPermission, model: RegisteredModel) -> bool:
    """True if ``user`` holds ``permission`` globally (through a role) or on this model.

    The same answer as ``user.has_perm(name) or user.has_perm(name, model)`` with the project's two
    backends, in one query instead of four (this check sits on every API read and every gate call)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    condition, params = model_perm_condition(permission, user, str(int(model.pk)))
    with connection.cursor() as cursor:
        # Only the model's integer id is interpolated (as a literal); every other value is a parameter.
        cursor.execute(f"SELECT {condition}", params)
        row = cursor.fetchone()
    return bool(row and row[0])


# Groups that may approve every model's promotions; the approval services still apply separation
# of duties to each person (an owner, creator or team member never validates their own model).
APPROVER_GROUPS = ("validator", "compliance_officer")


def grant_team_permissions(model: RegisteredModel) -> None:
    for permission in TEAM_PERMISSIONS:
        assign_perm(perm_name(permission), model.team, model)
        assign_perm(perm_name(permission), model.owner, model)
    for group in Group.objects.filter(name__in=APPROVER_GROUPS):
        assign_perm(perm_name(ModelPermission.APPROVE), group, model)


def revoke_team_permissions(model: RegisteredModel, team: Any) -> None:
    for permission in TEAM_PERMISSIONS:
        remove_perm(perm_name(permission), team, model)


def revoke_owner_permissions(model: RegisteredModel, owner: Any) -> None:
    """Take back what ``owner`` held as the model's owner (what they hold through a team stays)."""
    for permission in TEAM_PERMISSIONS:
        remove_perm(perm_name(permission), owner, model)
