"""Governance admin: the audit log is read-only for everyone, its changelist costs a fixed number of
queries, and revoking tokens goes through the audited service."""

import pytest

from governance.models import ApiToken, AuditEntry
from governance.services import api_token_create
from tests.factories import RegisteredModelFactory, make_version
from tests.helpers import audit_entries_after, last_audit_id, nothing_written

CHANGELIST_URL = "/admin/governance/auditentry/"


@pytest.fixture(params=["superuser", "officer"])
def reader(request, world, superuser, admin_client_for):
    """An admin client for each kind of person who reads the log."""
    return admin_client_for(superuser if request.param == "superuser" else world.officer)


def test_changelist_lists_every_entry_without_an_add_button(world, reader):
    response = reader.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert response.context["cl"].result_count == AuditEntry.objects.count() == 6
    assert response.context["has_add_permission"] is False
    html = response.content.decode()
    assert "/admin/governance/auditentry/add/" not in html
    assert "Add audit entry" not in html


def test_add_page_is_forbidden(world, reader):
    with nothing_written():
        assert reader.get(f"{CHANGELIST_URL}add/").status_code == 403
        assert reader.post(f"{CHANGELIST_URL}add/", {"actor_name": "mallory"}).status_code == 403


def test_change_page_is_read_only(world, reader):
    entry = AuditEntry.objects.order_by("id").first()

    response = reader.get(f"{CHANGELIST_URL}{entry.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    assert "deletelink" not in html
    assert bytes(entry.leaf_hash).hex() in html
    assert response.context["adminform"].form.fields == {}


def test_change_and_delete_posts_are_forbidden(world, reader):
    entry = AuditEntry.objects.order_by("id").first()

    with nothing_written():
        change = reader.post(f"{CHANGELIST_URL}{entry.pk}/change/", {"actor_name": "mallory", "_save": "Save"})
        delete = reader.post(f"{CHANGELIST_URL}{entry.pk}/delete/", {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403


def test_no_bulk_delete_action(world, reader):
    response = reader.get(CHANGELIST_URL)

    assert "delete_selected" not in response.content.decode()


# session, user, the total and filtered counts, the page of rows (entry_bytes deferred), the date
# hierarchy's bounds and days, the event_type and subject_type filters' choices.
AUDIT_CHANGELIST_QUERIES = 9


@pytest.mark.parametrize("extra_models", [0, 20])
def test_changelist_query_count_does_not_grow_with_rows(
    world, superuser, admin_client_for, django_assert_num_queries, extra_models
):
    for index in range(extra_models):
        model = RegisteredModelFactory(name=f"many-{index:02d}", team=world.team_a, owner=world.owner_a)
        make_version(model=model, actor=world.ci_a, seed=f"many-{index}")
    client = admin_client_for(superuser)

    with django_assert_num_queries(AUDIT_CHANGELIST_QUERIES):
        response = client.get(CHANGELIST_URL)

    assert response.context["cl"].result_count == 6 + 2 * extra_models


def test_admin_revoke_action_goes_through_the_service(world, admin_client_for):
    issued = api_token_create(actor=None, user=world.ci_a, name="pipeline", expires_at=None)
    client = admin_client_for(world.officer)
    last = last_audit_id()

    response = client.post(
        "/admin/governance/apitoken/", {"action": "revoke", "_selected_action": [str(issued.token.pk)]}
    )

    assert response.status_code == 302
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name, entry.subject_id) == (
        "API_TOKEN_REVOKED",
        "officer",
        str(issued.token.pk),
    )
    assert entry.after == {"user": "ci-a", "prefix": issued.secret[:10]}

    with nothing_written():
        again = client.post(
            "/admin/governance/apitoken/", {"action": "revoke", "_selected_action": [str(issued.token.pk)]}
        )
    assert again.status_code == 302


def test_tokens_cannot_be_added_or_deleted_in_the_admin(world, superuser, admin_client_for):
    issued = api_token_create(actor=None, user=world.ci_a, name="pipeline", expires_at=None)
    client = admin_client_for(superuser)

    with nothing_written():
        assert client.get("/admin/governance/apitoken/add/").status_code == 403
        assert client.post(f"/admin/governance/apitoken/{issued.token.pk}/delete/", {"post": "yes"}).status_code == 403

    page = client.get(f"/admin/governance/apitoken/{issued.token.pk}/change/").content.decode()
    assert issued.token.key_hash not in page
