"""Who may do what to a registered model: a global permission (roles) or a guardian object permission."""

from typing import Any

from django.contrib.auth.models import Group
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


def user_has_model_perm(user: Any, permission: ModelPermission, model: RegisteredModel) -> bool:
    """True if ``user`` holds ``permission`` globally (through a role) or on this model."""
    if not user.is_authenticated or not user.is_active:
        return False
    name = perm_name(permission)
    # Django's ModelBackend answers only global permissions and guardian only object ones.
    return bool(user.has_perm(name) or user.has_perm(name, model))


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
