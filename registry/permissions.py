"""Who may do what to a registered model: a global permission (roles) or a guardian object permission."""

from typing import Any

from django.contrib.auth.models import Group
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


# One statement for what ModelBackend (global permissions, direct or through a group) and guardian's
# ObjectPermissionBackend (object permissions, direct or through a group) would answer with four.
_HAS_MODEL_PERM_SQL = """
SELECT EXISTS (
    SELECT 1 FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    WHERE ct.app_label = 'registry' AND ct.model = 'registeredmodel' AND p.codename = %(codename)s AND (
        EXISTS (SELECT 1 FROM auth_user_user_permissions up
                WHERE up.user_id = %(user)s AND up.permission_id = p.id)
        OR EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
                   WHERE ug.user_id = %(user)s AND gp.permission_id = p.id)
        OR EXISTS (SELECT 1 FROM guardian_userobjectpermission uo
                   WHERE uo.user_id = %(user)s AND uo.permission_id = p.id
                     AND uo.content_type_id = ct.id AND uo.object_pk = %(object)s)
        OR EXISTS (SELECT 1 FROM auth_user_groups ug
                   JOIN guardian_groupobjectpermission go ON go.group_id = ug.group_id
                   WHERE ug.user_id = %(user)s AND go.permission_id = p.id
                     AND go.content_type_id = ct.id AND go.object_pk = %(object)s)
    )
)
"""


def user_has_model_perm(user: Any, permission: ModelPermission, model: RegisteredModel) -> bool:
    """True if ``user`` holds ``permission`` globally (through a role) or on this model.

    The same answer as ``user.has_perm(name) or user.has_perm(name, model)`` with the project's two
    backends, in one query instead of four (this check sits on every API read and every gate call)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    with connection.cursor() as cursor:
        cursor.execute(_HAS_MODEL_PERM_SQL, {"codename": permission.value, "user": user.pk, "object": str(model.pk)})
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
