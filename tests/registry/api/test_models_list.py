"""GET /api/v1/models/: filters, search, ordering and pagination."""

import pytest

from registry.models import RegisteredModel
from registry.services import model_version_promote, registered_model_update
from tests.conftest import rows_for_the_module
from tests.factories import RegisteredModelFactory, UserFactory, make_model, make_version, seed_admin


def build_inventory(world):
    """Four models: model-a (high, team-a, owner-a, v1 in production, v2 none), model-b (low, team-b),
    model-c (medium, team-a, limited risk, retired) and model-d (medium, team-b, with "scorer" in its
    intended use)."""
    make_version(model=world.model_a, actor=world.ci_a, seed="a2")
    model_version_promote(actor=seed_admin(), version=world.version_a1, stage="production")
    model_c = make_model(
        owner=world.owner_a,
        team=world.team_a,
        name="model-c",
        risk_tier="medium",
        eu_ai_act_category="limited_risk",
        display_name="Chatbot",
    )
    registered_model_update(actor=seed_admin(), model=model_c, changes={"status": "retired"})
    make_model(
        owner=world.owner_b,
        team=world.team_b,
        name="model-d",
        risk_tier="medium",
        eu_ai_act_category="high_risk",
        intended_use="A fraud scorer for card payments.",
    )


@pytest.fixture(scope="module")
def _module_inventory(_module_world, django_db_blocker):
    with rows_for_the_module(django_db_blocker, lambda: build_inventory(_module_world)):
        yield


@pytest.fixture
def inventory(_module_inventory, world):
    """The world plus model-c and model-d (see build_inventory), written once for the module."""
    return world


def names(response):
    assert response.status_code == 200, response.json()
    return [item["name"] for item in response.json()["results"]]


def test_default_list_is_every_viewable_model_by_name(inventory, api):
    response = api(inventory.officer).get("/api/v1/models/")

    assert names(response) == ["model-a", "model-b", "model-c", "model-d"]
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (4, None, None)


def test_list_item_has_every_field_and_the_latest_version(inventory, api):
    response = api(inventory.officer).get("/api/v1/models/")

    first = response.json()["results"][0]
    assert sorted(first) == sorted(
        [
            "name",
            "display_name",
            "description",
            "owner",
            "team",
            "risk_tier",
            "eu_ai_act_category",
            "intended_use",
            "out_of_scope_use",
            "regulatory_scope",
            "status",
            "latest_version",
            "created_at",
            "updated_at",
        ]
    )
    assert {item["name"]: item["latest_version"] for item in response.json()["results"]} == {
        "model-a": 2,
        "model-b": 1,
        "model-c": None,
        "model-d": None,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("risk_tier=high", ["model-a"]),
        ("risk_tier=medium", ["model-c", "model-d"]),
        ("risk_tier=low", ["model-b"]),
        ("status=retired", ["model-c"]),
        ("status=active", ["model-a", "model-b", "model-d"]),
        ("team=team-a", ["model-a", "model-c"]),
        ("team=team-b", ["model-b", "model-d"]),
        ("team=no-such-team", []),
        ("owner=owner-b", ["model-b", "model-d"]),
        ("owner=officer", []),
        ("stage=production", ["model-a"]),
        ("stage=none", ["model-a", "model-b"]),
        ("stage=staging", []),
        ("eu_ai_act_category=high_risk", ["model-d"]),
        ("eu_ai_act_category=limited_risk", ["model-c"]),
        ("eu_ai_act_category=minimal_risk", ["model-a", "model-b"]),
        ("risk_tier=medium&team=team-b", ["model-d"]),
    ],
)
def test_filters(inventory, api, query, expected):
    response = api(inventory.officer).get(f"/api/v1/models/?{query}")

    assert names(response) == expected
    assert response.json()["count"] == len(expected)


def test_stage_filter_keeps_the_latest_version_of_all_versions(inventory, api):
    # Version 1 is in production, version 2 is not: the filter must not narrow latest_version to v1.
    response = api(inventory.officer).get("/api/v1/models/?stage=production")

    assert [(item["name"], item["latest_version"]) for item in response.json()["results"]] == [("model-a", 2)]


@pytest.mark.parametrize(
    ("param", "value"),
    [("risk_tier", "extreme"), ("status", "deleted"), ("stage", "prod"), ("eu_ai_act_category", "high")],
)
def test_invalid_filter_value_is_a_validation_error(inventory, api, param, value):
    response = api(inventory.officer).get(f"/api/v1/models/?{param}={value}")

    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "The request is not valid.",
        "extra": {"fields": {param: [f"Select a valid choice. {value} is not one of the available choices."]}},
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("model-c", ["model-c"]),
        ("CHATBOT", ["model-c"]),  # display_name, case-insensitive
        ("scorer", ["model-d"]),  # intended_use
        ("model", ["model-a", "model-b", "model-c", "model-d"]),
        ("nothing-like-this", []),
        ("'; DROP TABLE registry_registeredmodel; --", []),
    ],
)
def test_search(inventory, api, term, expected):
    response = api(inventory.officer).get("/api/v1/models/", {"search": term})

    assert names(response) == expected
    assert RegisteredModel.objects.count() == 4


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("name", ["model-a", "model-b", "model-c", "model-d"]),
        ("-name", ["model-d", "model-c", "model-b", "model-a"]),
        ("-created_at", ["model-d", "model-c", "model-b", "model-a"]),
        ("risk_tier,name", ["model-a", "model-b", "model-c", "model-d"]),
        ("-risk_tier,-name", ["model-d", "model-c", "model-b", "model-a"]),
        ("-updated_at", ["model-d", "model-c", "model-b", "model-a"]),
        ("owner", ["model-a", "model-b", "model-c", "model-d"]),  # not orderable: ignored
    ],
)
def test_ordering(inventory, api, ordering, expected):
    response = api(inventory.officer).get(f"/api/v1/models/?ordering={ordering}")

    assert names(response) == expected


def test_pagination_links(inventory, api):
    client = api(inventory.officer)

    first = client.get("/api/v1/models/?page_size=3")
    second = client.get(first.json()["next"])

    assert first.json()["count"] == 4
    assert first.json()["next"] == "http://testserver/api/v1/models/?page=2&page_size=3"
    assert first.json()["previous"] is None
    assert names(first) == ["model-a", "model-b", "model-c"]
    assert second.json()["count"] == 4
    assert second.json()["next"] is None
    assert second.json()["previous"] == "http://testserver/api/v1/models/?page_size=3"
    assert names(second) == ["model-d"]


def test_page_past_the_end_is_not_found(inventory, api):
    response = api(inventory.officer).get("/api/v1/models/?page=3&page_size=3")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Invalid page.", "extra": {}}


def test_page_size_defaults_to_50_and_is_capped_at_500(inventory, api):
    # Rows for a read test: how they were written does not matter to the list, and 501 service calls would.
    owner = UserFactory(username="bulk-owner")
    RegisteredModel.objects.bulk_create(RegisteredModelFactory.build_batch(501, team=inventory.team_a, owner=owner))
    client = api(inventory.officer)

    default = client.get("/api/v1/models/")
    capped = client.get("/api/v1/models/?page_size=1000")
    exact = client.get("/api/v1/models/?page_size=500")

    assert default.json()["count"] == 505
    assert len(default.json()["results"]) == 50
    assert capped.json()["count"] == 505
    assert len(capped.json()["results"]) == 500
    assert capped.json()["next"] == "http://testserver/api/v1/models/?page=2&page_size=1000"
    assert len(exact.json()["results"]) == 500
    last_page = client.get(capped.json()["next"])
    assert len(last_page.json()["results"]) == 5


def test_list_trailing_slash_is_optional(inventory, api):
    assert names(api(inventory.officer).get("/api/v1/models?risk_tier=low")) == ["model-b"]
