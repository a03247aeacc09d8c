"""Reads of the registry: what a user may see, and not-found that does not tell hidden from missing."""

import pytest
from django.contrib.auth.models import AnonymousUser

from registry.errors import ModelNotFound, ModelVersionNotFound
from registry.selectors import model_version_get, model_version_list, registered_model_get, registered_model_list
from tests.factories import make_version


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner_a", ["model-a"]),
        ("ci_a", ["model-a"]),
        ("ci_b", ["model-b"]),
        ("officer", ["model-a", "model-b"]),
        ("auditor", ["model-a", "model-b"]),
        ("validator", []),
    ],
)
def test_list_is_what_the_user_may_view(world, who, expected):
    assert [model.name for model in registered_model_list(user=getattr(world, who))] == expected


def test_list_for_anonymous_is_empty(world):
    assert list(registered_model_list(user=AnonymousUser())) == []


def test_list_for_an_inactive_user_is_empty(world):
    world.owner_a.is_active = False
    world.owner_a.save(update_fields=["is_active"])

    assert list(registered_model_list(user=world.owner_a)) == []
    with pytest.raises(ModelNotFound):
        registered_model_get(name="model-a", user=world.owner_a)


def test_list_and_get_carry_the_latest_version(world):
    make_version(model=world.model_a, actor=world.ci_a, seed="a2")

    assert {model.name: model.latest_version for model in registered_model_list(user=world.officer)} == {
        "model-a": 2,
        "model-b": 1,
    }
    assert registered_model_get(name="model-a", user=world.officer, with_latest_version=True).latest_version == 2


@pytest.mark.parametrize(("name", "who"), [("model-a", "ci_b"), ("no-such", "officer"), ("model-a", "validator")])
def test_get_hidden_or_missing_is_not_found(world, name, who):
    with pytest.raises(ModelNotFound) as raised:
        registered_model_get(name=name, user=getattr(world, who))

    assert (raised.value.code, raised.value.status, raised.value.extra) == ("model_not_found", 404, {"model": name})


def test_versions_newest_first_and_version_get(world):
    make_version(model=world.model_a, actor=world.ci_a, seed="a2")

    assert [version.version for version in model_version_list(model=world.model_a)] == [2, 1]
    assert model_version_get(model=world.model_a, version=1).pk == world.version_a1.pk
    with pytest.raises(ModelVersionNotFound) as raised:
        model_version_get(model=world.model_a, version=3)
    assert raised.value.extra == {"model": "model-a", "version": 3}
