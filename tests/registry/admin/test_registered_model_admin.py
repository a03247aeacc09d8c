"""The inventory admin: saving goes through the same services as the API (audit entries and object
permissions included), domain errors are messages, and the changelist costs a fixed number of queries."""

import pytest
from django.contrib.messages import get_messages

from governance.choices import Role
from registry.models import RegisteredModel
from tests.factories import RegisteredModelFactory, UserFactory, make_version, role
from tests.helpers import (
    APPROVER_PERMS,
    TEAM_CODENAMES,
    assert_audited,
    audit_entries_after,
    form_fields,
    last_audit_id,
    model_perms,
    nothing_written,
)

ADD_URL = "/admin/registry/registeredmodel/add/"
CHANGELIST_URL = "/admin/registry/registeredmodel/"


def change_url(model):
    return f"/admin/registry/registeredmodel/{model.pk}/change/"


def add_form(client, **values):
    data = form_fields(client.get(ADD_URL).content.decode())
    data.update(values)
    data["_save"] = "Save"
    return data


def test_admin_add_goes_through_the_service(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = add_form(
        client,
        name="admin-made",
        display_name="Made in the admin",
        owner=str(world.owner_b.pk),
        team=str(world.team_b.pk),
        risk_tier="medium",
        eu_ai_act_category="limited_risk",
        regulatory_scope='["eu-ai-act"]',
    )
    last = last_audit_id()

    response = client.post(ADD_URL, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == CHANGELIST_URL
    model = RegisteredModel.objects.get(name="admin-made")
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_id, entry.actor_name) == (
        "REGISTERED_MODEL_CREATED",
        world.officer.pk,
        "officer",
    )
    assert (entry.subject_id, entry.model_name) == (str(model.pk), "admin-made")
    assert entry.after == {
        "name": "admin-made",
        "display_name": "Made in the admin",
        "description": "",
        "owner": "owner-b",
        "team": "team-b",
        "risk_tier": "medium",
        "eu_ai_act_category": "limited_risk",
        "intended_use": "",
        "out_of_scope_use": "",
        "regulatory_scope": ["eu-ai-act"],
        "status": "active",
    }
    assert model_perms(model) == {**APPROVER_PERMS, "group:team-b": TEAM_CODENAMES, "user:owner-b": TEAM_CODENAMES}


def test_admin_change_of_risk_tier_is_audited(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = form_fields(client.get(change_url(world.model_a)).content.decode())
    assert data["risk_tier"] == "high"
    data.update(risk_tier="low", _save="Save")
    last = last_audit_id()

    response = client.post(change_url(world.model_a), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert RegisteredModel.objects.get(pk=world.model_a.pk).risk_tier == "low"
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name, entry.model_name) == ("REGISTERED_MODEL_UPDATED", "officer", "model-a")
    assert (entry.before, entry.after) == ({"risk_tier": "high"}, {"risk_tier": "low"})


def test_admin_change_of_team_moves_permissions(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = form_fields(client.get(change_url(world.model_a)).content.decode())
    data.update(team=str(world.team_b.pk), _save="Save")
    last = last_audit_id()

    assert client.post(change_url(world.model_a), data).status_code == 302

    [entry] = assert_audited(last, ("REGISTERED_MODEL_UPDATED", "officer", "model-a"))
    assert (entry.before, entry.after) == ({"team": "team-a"}, {"team": "team-b"})

    assert model_perms(world.model_a) == {
        **APPROVER_PERMS,
        "group:team-b": TEAM_CODENAMES,
        "user:owner-a": TEAM_CODENAMES,
    }


def test_admin_save_without_changes_writes_nothing(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = form_fields(client.get(change_url(world.model_a)).content.decode())
    data["_save"] = "Save"

    with nothing_written():
        response = client.post(change_url(world.model_a), data)

    assert response.status_code == 302


def test_admin_domain_error_is_a_message_and_writes_nothing(world, admin_client_for):
    owner_staff = UserFactory(username="staff-owner", is_staff=True, groups=[role(Role.MODEL_OWNER), world.team_a])
    client = admin_client_for(owner_staff)
    data = add_form(client, name="not-my-team", owner=str(owner_staff.pk), team=str(world.team_b.pk), risk_tier="low")

    with nothing_written():
        response = client.post(ADD_URL, data)

    assert response.status_code == 302
    assert response["Location"] == ADD_URL
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "not_team_member: You are not a member of team 'team-b'."
    ]


def test_admin_change_to_an_inactive_owner_is_a_message(world, admin_client_for):
    inactive = UserFactory(username="left-the-company", is_active=False)
    client = admin_client_for(world.officer)
    data = form_fields(client.get(change_url(world.model_a)).content.decode())
    data.update(owner=str(inactive.pk), _save="Save")

    with nothing_written():
        response = client.post(change_url(world.model_a), data)

    assert response.status_code == 302
    assert response["Location"] == change_url(world.model_a)
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        "unknown_user: No active user named 'left-the-company'."
    ]


def test_admin_duplicate_name_is_a_form_error(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = add_form(client, name="model-a", owner=str(world.owner_a.pk), team=str(world.team_a.pk), risk_tier="low")

    with nothing_written():
        response = client.post(ADD_URL, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"name": ["Registered model with this Name already exists."]}


def test_models_cannot_be_deleted_in_the_admin(world, admin_client_for, superuser):
    client = admin_client_for(superuser)

    with nothing_written():
        response = client.post(f"/admin/registry/registeredmodel/{world.model_a.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403


def test_name_is_read_only_after_creation(world, admin_client_for):
    client = admin_client_for(world.officer)
    data = form_fields(client.get(change_url(world.model_a)).content.decode())
    assert "name" not in data
    data.update(name="renamed", display_name="x", _save="Save")
    last = last_audit_id()

    assert client.post(change_url(world.model_a), data).status_code == 302

    assert RegisteredModel.objects.get(pk=world.model_a.pk).name == "model-a"
    [entry] = assert_audited(last, ("REGISTERED_MODEL_UPDATED", "officer", "model-a"))
    assert (entry.before, entry.after) == ({"display_name": ""}, {"display_name": "x"})


@pytest.mark.parametrize(("query", "expected"), [("risk_tier__exact=high", ["model-a"]), ("", ["model-a", "model-b"])])
def test_changelist_filters_by_risk_tier(world, admin_client_for, query, expected):
    response = admin_client_for(world.officer).get(f"{CHANGELIST_URL}?{query}")

    assert response.status_code == 200
    assert [model.name for model in response.context["cl"].result_list] == expected


def _many_models(world, count):
    for index in range(count):
        model = RegisteredModelFactory(name=f"bulk-{index:02d}", team=world.team_a, owner=world.owner_a)
        make_version(model=model, actor=world.ci_a, seed=f"bulk-{index}")


# session, user, the owner and team filter choices, the total and filtered counts, the page of rows
# (owner and team joined in).
CHANGELIST_QUERIES = 7


@pytest.mark.parametrize("extra_models", [0, 25])
def test_changelist_query_count_does_not_grow_with_rows(
    world, admin_client_for, superuser, django_assert_num_queries, extra_models
):
    _many_models(world, extra_models)
    client = admin_client_for(superuser)

    with django_assert_num_queries(CHANGELIST_QUERIES):
        response = client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 2 + extra_models
