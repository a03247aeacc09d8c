"""POST /api/v1/models/: registering a model in the inventory."""

import pytest

from governance.models import AuditEntry
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

FULL_BODY = {
    "name": "fraud-scorer",
    "team": "team-a",
    "owner": "owner-a",
    "risk_tier": "high",
    "display_name": "Fraud scorer",
    "description": "Scores card transactions.",
    "eu_ai_act_category": "high_risk",
    "intended_use": "Flag transactions for review.",
    "out_of_scope_use": "Automatic account closure.",
    "regulatory_scope": ["eu-ai-act", "sr-11-7"],
}

SNAPSHOT = {
    "display_name": "Fraud scorer",
    "description": "Scores card transactions.",
    "owner": "owner-a",
    "team": "team-a",
    "risk_tier": "high",
    "eu_ai_act_category": "high_risk",
    "intended_use": "Flag transactions for review.",
    "out_of_scope_use": "Automatic account closure.",
    "regulatory_scope": ["eu-ai-act", "sr-11-7"],
    "status": "active",
}


def test_officer_creates_a_model_with_every_field(world, api):
    client = api(world.officer)
    last = last_audit_id()

    response = client.post("/api/v1/models/", FULL_BODY, format="json")

    assert response.status_code == 201, response.json()
    model = RegisteredModel.objects.get(name="fraud-scorer")
    assert response.json() == {
        "name": "fraud-scorer",
        **SNAPSHOT,
        "latest_version": None,
        "created_at": iso_z(model.created_at),
        "updated_at": iso_z(model.updated_at),
    }
    assert model.owner == world.owner_a
    assert model.team == world.team_a
    [entry] = audit_entries_after(last)
    assert entry.event_type == "REGISTERED_MODEL_CREATED"
    assert entry.actor_id == world.officer.pk
    assert entry.actor_name == "officer"
    assert entry.subject_type == "registry.RegisteredModel"
    assert entry.subject_id == str(model.pk)
    assert entry.subject_repr == "fraud-scorer"
    assert entry.model_name == "fraud-scorer"
    assert entry.before is None
    assert entry.after == {"name": "fraud-scorer", **SNAPSHOT}


def test_team_and_owner_get_the_object_permissions(world, api):
    response = api(world.officer).post("/api/v1/models/", FULL_BODY, format="json")

    assert response.status_code == 201
    model = RegisteredModel.objects.get(name="fraud-scorer")
    assert model_perms(model) == {**APPROVER_PERMS, "group:team-a": TEAM_CODENAMES, "user:owner-a": TEAM_CODENAMES}


def test_team_members_can_use_the_new_model_and_other_teams_cannot(world, api):
    assert api(world.officer).post("/api/v1/models/", FULL_BODY, format="json").status_code == 201

    assert api(world.ci_a).get("/api/v1/models/fraud-scorer/").status_code == 200
    response = api(world.ci_b).get("/api/v1/models/fraud-scorer/")
    assert response.status_code == 404
    assert response.json()["code"] == "model_not_found"


def test_model_owner_creates_for_own_team_and_owns_it_by_default(world, api):
    client = api(world.owner_a)
    last = last_audit_id()

    response = client.post("/api/v1/models/", {"name": "churn", "team": "team-a", "risk_tier": "low"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["owner"], body["team"], body["risk_tier"]) == ("owner-a", "team-a", "low")
    assert (body["eu_ai_act_category"], body["status"], body["regulatory_scope"]) == ("minimal_risk", "active", [])
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name, entry.model_name) == ("REGISTERED_MODEL_CREATED", "owner-a", "churn")
    assert entry.after == {
        "name": "churn",
        "display_name": "",
        "description": "",
        "owner": "owner-a",
        "team": "team-a",
        "risk_tier": "low",
        "eu_ai_act_category": "minimal_risk",
        "intended_use": "",
        "out_of_scope_use": "",
        "regulatory_scope": [],
        "status": "active",
    }


def test_trailing_slash_is_optional(world, api):
    client = api(world.officer)

    response = client.post("/api/v1/models", {**FULL_BODY, "name": "no-slash"}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "no-slash"
    assert AuditEntry.objects.filter(event_type="REGISTERED_MODEL_CREATED", model_name="no-slash").count() == 1


def test_model_owner_cannot_create_for_another_team(world, api):
    client = api(world.owner_a)

    with nothing_written():
        response = client.post(
            "/api/v1/models/", {"name": "sneaky", "team": "team-b", "risk_tier": "low"}, format="json"
        )

    assert response.status_code == 400
    assert response.json() == {
        "code": "not_team_member",
        "message": "You are not a member of team 'team-b'.",
        "extra": {"team": "team-b"},
    }


def test_unknown_team_is_refused(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**FULL_BODY, "team": "no-such-team"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_team",
        "message": "No team named 'no-such-team'.",
        "extra": {"team": "no-such-team"},
    }


@pytest.mark.parametrize("owner", ["ghost", "retired-person"])
def test_owner_must_be_an_active_user(world, api, owner):
    UserFactory(username="retired-person", is_active=False)
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {**FULL_BODY, "owner": owner}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_user",
        "message": f"No active user named {owner!r}.",
        "extra": {"user": owner},
    }


def test_required_fields_are_named(world, api):
    client = api(world.officer)

    with nothing_written():
        response = client.post("/api/v1/models/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "The request is not valid.",
        "extra": {
            "fields": {
                "name": ["This field is required."],
                "team": ["This field is required."],
                "risk_tier": ["This field is required."],
            }
        },
    }
