"""GET and PATCH /api/v1/models/{name}/: one model and its metadata changes."""

import pytest

from registry.models import RegisteredModel
from tests.factories import UserFactory
from tests.helpers import (
    APPROVER_PERMS,
    TEAM_CODENAMES,
    audit_entries_after,
    iso_z,
    last_audit_id,
    model_perms,
    nothing_written,
)


@pytest.mark.parametrize("path", ["/api/v1/models/model-a/", "/api/v1/models/model-a"])
def test_retrieve(world, api, path):
    response = api(world.owner_a).get(path)

    assert response.status_code == 200
    model = world.model_a
    assert response.json() == {
        "name": "model-a",
        "display_name": "",
        "description": "",
        "owner": "owner-a",
        "team": "team-a",
        "risk_tier": "high",
        "eu_ai_act_category": "minimal_risk",
        "intended_use": "",
        "out_of_scope_use": "",
        "regulatory_scope": [],
        "status": "active",
        "latest_version": 1,
        "created_at": iso_z(model.created_at),
        "updated_at": iso_z(model.updated_at),
    }


def test_unknown_model_is_model_not_found(world, api):
    response = api(world.officer).get("/api/v1/models/no-such-model/")

    assert response.status_code == 404
    assert response.json() == {
        "code": "model_not_found",
        "message": "No model named 'no-such-model'.",
        "extra": {"model": "no-such-model"},
    }


def test_a_name_that_is_not_a_slug_is_no_address(world, api):
    response = api(world.officer).get("/api/v1/models/Model-A/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Nothing is found at this address.", "extra": {}}


@pytest.mark.parametrize("path", ["/api/v1/models/model-a/", "/api/v1/models/model-a"])
def test_patch_changes_metadata_and_logs_only_the_changed_fields(world, api, path):
    client = api(world.owner_a)
    last = last_audit_id()
    updated_before = world.model_a.updated_at

    response = client.patch(
        path,
        {"display_name": "Credit PD", "risk_tier": "high", "regulatory_scope": ["sr-11-7"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["display_name"], body["risk_tier"], body["regulatory_scope"]) == ("Credit PD", "high", ["sr-11-7"])
    model = RegisteredModel.objects.get(name="model-a")
    assert (model.display_name, model.regulatory_scope) == ("Credit PD", ["sr-11-7"])
    assert model.updated_at > updated_before
    assert body["updated_at"] == iso_z(model.updated_at)
    [entry] = audit_entries_after(last)
    assert entry.event_type == "REGISTERED_MODEL_UPDATED"
    assert (entry.actor_id, entry.actor_name) == (world.owner_a.pk, "owner-a")
    assert (entry.subject_type, entry.subject_id, entry.model_name) == (
        "registry.RegisteredModel",
        str(model.pk),
        "model-a",
    )
    assert entry.before == {"display_name": "", "regulatory_scope": []}
    assert entry.after == {"display_name": "Credit PD", "regulatory_scope": ["sr-11-7"]}


def test_patch_that_changes_nothing_writes_nothing(world, api):
    client = api(world.owner_a)

    with nothing_written():
        response = client.patch(
            "/api/v1/models/model-a/", {"risk_tier": "high", "owner": "owner-a", "display_name": ""}, format="json"
        )

    assert response.status_code == 200
    assert response.json()["risk_tier"] == "high"


def test_patch_team_moves_the_object_permissions(world, api):
    client = api(world.officer)
    last = last_audit_id()

    response = client.patch("/api/v1/models/model-a/", {"team": "team-b"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["team"] == "team-b"
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name) == ("REGISTERED_MODEL_UPDATED", "officer")
    assert (entry.before, entry.after) == ({"team": "team-a"}, {"team": "team-b"})
    assert model_perms(world.model_a) == {
        **APPROVER_PERMS,
        "group:team-b": TEAM_CODENAMES,
        "user:owner-a": TEAM_CODENAMES,
    }
    response = api(world.ci_a).get("/api/v1/models/model-a/")
    assert (response.status_code, response.json()["code"]) == (404, "model_not_found")
    assert api(world.ci_b).get("/api/v1/models/model-a/").status_code == 200


def test_patch_owner_moves_the_owner_permissions(world, api):
    new_owner = UserFactory(username="new-owner")
    client = api(world.officer)
    last = last_audit_id()

    response = client.patch("/api/v1/models/model-a/", {"owner": "new-owner"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["owner"] == "new-owner"
    [entry] = audit_entries_after(last)
    assert (entry.before, entry.after) == ({"owner": "owner-a"}, {"owner": "new-owner"})
    assert model_perms(world.model_a) == {
        **APPROVER_PERMS,
        "group:team-a": TEAM_CODENAMES,
        "user:new-owner": TEAM_CODENAMES,
    }
    assert api(new_owner).get("/api/v1/models/model-a/").status_code == 200


def test_former_owner_outside_the_team_loses_access(world, api):
    outsider = UserFactory(username="outsider")
    client = api(world.officer)
    assert client.patch("/api/v1/models/model-a/", {"owner": "outsider"}, format="json").status_code == 200
    assert client.patch("/api/v1/models/model-a/", {"owner": "owner-a"}, format="json").status_code == 200

    response = api(outsider).get("/api/v1/models/model-a/")

    assert (response.status_code, response.json()["code"]) == (404, "model_not_found")


def test_patch_retires_a_model(world, api):
    client = api(world.owner_a)
    last = last_audit_id()

    response = client.patch("/api/v1/models/model-a/", {"status": "retired"}, format="json")

    assert response.status_code == 200
    assert RegisteredModel.objects.get(name="model-a").status == "retired"
    [entry] = audit_entries_after(last)
    assert (entry.before, entry.after) == ({"status": "active"}, {"status": "retired"})


def test_empty_patch_is_a_validation_error(world, api):
    client = api(world.owner_a)

    with nothing_written():
        response = client.patch("/api/v1/models/model-a/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "The request is not valid.",
        "extra": {"fields": {"non_field_errors": ["Give at least one field to change."]}},
    }


@pytest.mark.parametrize(
    ("body", "code", "extra"),
    [
        ({"owner": "ghost"}, "unknown_user", {"user": "ghost"}),
        ({"team": "ghost-team"}, "unknown_team", {"team": "ghost-team"}),
        ({"display_name": "x", "owner": "ghost"}, "unknown_user", {"user": "ghost"}),
    ],
)
def test_patch_with_unknown_names_writes_nothing(world, api, body, code, extra):
    client = api(world.officer)

    with nothing_written():
        response = client.patch("/api/v1/models/model-a/", body, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]) == (code, extra)


def test_name_cannot_be_patched(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.patch("/api/v1/models/model-a/", {"name": "renamed"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_field",
        "message": "The request is not valid.",
        "extra": {"fields": {"unknown_fields": ["name"]}},
    }
