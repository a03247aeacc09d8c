"""registry.permissions.user_has_model_perm answers in one query what Django's ModelBackend and
guardian's ObjectPermissionBackend answer with several: the two must agree on every kind of grant."""

import itertools

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from governance.choices import Role
from registry.api.serializers import ModelVersionOutput, model_version_data
from registry.choices import ModelPermission
from registry.errors import ModelNotFound, ModelVersionNotFound
from registry.models import ModelVersion, RegisteredModel
from registry.permissions import perm_name, user_has_model_perm
from registry.selectors import model_version_get_for_user
from tests.factories import GroupFactory, UserFactory, make_model, make_version, role

pytestmark = pytest.mark.django_db

GRANTS = ("none", "user_global", "group_global", "user_object", "group_object", "other_object")


def grant(kind: str, user, group, permission: ModelPermission, model: RegisteredModel, other: RegisteredModel) -> None:
    name = perm_name(permission)
    if kind == "user_global":
        user.user_permissions.add(Permission.objects.get(codename=permission.value, content_type__app_label="registry"))
    elif kind == "group_global":
        group.permissions.add(Permission.objects.get(codename=permission.value, content_type__app_label="registry"))
    elif kind == "user_object":
        assign_perm(name, user, model)
    elif kind == "group_object":
        assign_perm(name, group, model)
    elif kind == "other_object":
        assign_perm(name, user, other)
        assign_perm(name, group, other)


@pytest.mark.parametrize(("kind", "permission"), list(itertools.product(GRANTS, ModelPermission)))
def test_one_query_agrees_with_the_backends(kind, permission):
    owner = UserFactory(username="perm-owner")
    team = GroupFactory(name="perm-team")
    model = make_model(owner=owner, team=team, name="perm-model")
    other = make_model(owner=owner, team=team, name="perm-other")
    user = UserFactory(username="perm-user")
    group = GroupFactory(name="perm-group")
    user.groups.add(group)
    grant(kind, user, group, permission, model, other)
    fresh = type(user).objects.get(pk=user.pk)  # no permission cache from the grants above
    user_has_model_perm(owner, permission, model)  # resolves the permission's ids, once per process

    with CaptureQueriesContext(connection) as queries:
        answer = user_has_model_perm(fresh, permission, model)

    name = perm_name(permission)
    expected = fresh.has_perm(name) or fresh.has_perm(name, model)
    assert answer is expected
    assert answer is (kind in ("user_global", "group_global", "user_object", "group_object"))
    assert len(queries) == 1


def test_an_inactive_user_holds_nothing_and_asks_nothing():
    owner = UserFactory(username="perm-owner")
    model = make_model(owner=owner, team=GroupFactory(name="perm-team"), name="perm-model")
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    with CaptureQueriesContext(connection) as queries:
        assert user_has_model_perm(owner, ModelPermission.VIEW, model) is False
    assert len(queries) == 0


def test_the_plain_version_representation_is_the_serializers(world_versions):
    for version in world_versions:
        assert model_version_data(version) == ModelVersionOutput(version).data
        assert list(model_version_data(version)) == list(ModelVersionOutput(version).data)


@pytest.fixture
def world_versions():
    owner = UserFactory(username="repr-owner")
    team = GroupFactory(name="repr-team")
    ci = UserFactory(username="repr-ci")
    model = make_model(owner=owner, team=team, name="repr-model")
    ci.groups.add(team)
    first = make_version(model=model, actor=owner, seed="r1")
    second = make_version(model=model, actor=owner, seed="r2", training_run_id="0192ffff-aaaa-7bbb-8ccc-dddddddddddd")
    return [
        ModelVersion.objects.select_related("model", "created_by", "signing_key").get(pk=v.pk) for v in (first, second)
    ]


@pytest.fixture
def readers(world_versions):
    """The version's owner, a team member, a compliance officer and a superuser; the permission's ids
    already resolved in this process."""
    version = world_versions[1]
    ci = UserFactory(username="repr-ci")
    officer = UserFactory(username="repr-officer")
    officer.groups.add(role(Role.COMPLIANCE_OFFICER))
    admin = UserFactory(username="repr-admin", is_superuser=True)
    user_has_model_perm(version.model.owner, ModelPermission.VIEW, version.model)
    return version.model.owner, ci, officer, admin


def test_the_one_statement_read_equals_the_orm_read_for_every_kind_of_reader(world_versions, readers):
    """model_version_get_for_user serves the API's version read and the gate: one prepared statement,
    the same instances and representation as the ORM, the same errors."""
    version = world_versions[1]
    owner, ci, officer, admin = readers
    stranger = UserFactory(username="repr-stranger")
    expected = model_version_data(version)
    fields = [field.attname for field in ModelVersion._meta.concrete_fields]

    for reader in (owner, ci, officer, admin):
        model_version_get_for_user(name="repr-model", version=2, user=reader)  # prepares it in this session
        with CaptureQueriesContext(connection) as queries:
            found = model_version_get_for_user(name="repr-model", version=2, user=reader)
            assert model_version_data(found) == expected
        assert len(queries) == 1, reader.username
        assert [getattr(found, name) for name in fields] == [getattr(version, name) for name in fields]
        assert found.model == version.model
        assert found.model.name == "repr-model"
        assert found.signing_key.public_key_pem == version.signing_key.public_key_pem
        assert found.signing_key.revoked_at is None

    with pytest.raises(ModelNotFound):
        model_version_get_for_user(name="repr-model", version=2, user=stranger)
    with pytest.raises(ModelVersionNotFound):
        model_version_get_for_user(name="repr-model", version=3, user=owner)
    with pytest.raises(ModelNotFound):
        model_version_get_for_user(name="no-such-model", version=1, user=officer)
