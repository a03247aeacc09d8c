"""The approvals admin through Django's test client: query counts of the changelists, and the
decision form's separation-of-duties refusal."""

import json
from typing import Any

from django.test import Client

from governance.choices import Role
from governance.models import ApprovalPolicy
from tests.factories import UserFactory, make_version, role

from .support import audit_mark, audit_since, decide, open_request, refused, snapshot, state_changed, step_decided

# Queries of the changelist filtered on ?queue=mine for a queue of one request (session, user,
# permissions, counts, the page); a longer queue must not need more.
QUEUE_QUERIES = 18
# Queries of the unfiltered changelist, whatever its length.
CHANGELIST_QUERIES = 9


def _queue_of(cast: Any, count: int) -> None:
    for n in range(count):
        version = make_version(model=cast.model_m, actor=cast.ci_a, seed=f"queue-{n}")
        decide(open_request(cast.dev_a, version), cast.validator)


def test_queue_changelist_query_count_does_not_grow(cast: Any, django_assert_max_num_queries: Any) -> None:
    _queue_of(cast, 5)
    client = Client()
    client.force_login(cast.officer)

    with django_assert_max_num_queries(QUEUE_QUERIES):
        response = client.get("/admin/governance/approvalrequest/?queue=mine")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 5


def test_changelist_query_count_does_not_grow(cast: Any, django_assert_max_num_queries: Any) -> None:
    _queue_of(cast, 5)
    client = Client()
    client.force_login(cast.officer)

    with django_assert_max_num_queries(CHANGELIST_QUERIES):
        response = client.get("/admin/governance/approvalrequest/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 5


def test_decision_form_refuses_a_second_step_by_the_same_person(cast: Any) -> None:
    dual = UserFactory(
        username="dual-staff", groups=[role(Role.VALIDATOR), role(Role.COMPLIANCE_OFFICER)], is_staff=True
    )
    request = decide(open_request(cast.dev_a, cast.version_m), dual)
    client = Client()
    client.force_login(dual)

    page = client.get(f"/admin/governance/approvalrequest/{request.pk}/change/")
    assert page.status_code == 200
    assert page.context["can_decide"] is False
    assert "You cannot decide this step: One person decides at most one step of a request." in page.content.decode()

    before = snapshot()
    mark = audit_mark()
    response = client.post(
        f"/admin/governance/approvalrequest/{request.pk}/decide/", {"decision": "approve"}, follow=True
    )

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "separation_of_duties: One person decides at most one step of a request."
    ]
    assert audit_since(mark) == [refused("dual-staff", "model-m", rule="one_step_per_person", step=2)]
    after = snapshot()
    assert {key: value for key, value in after.items() if key != "audit"} == {
        key: value for key, value in before.items() if key != "audit"
    }


def test_approve_action_decides_each_selected_request_through_the_service(cast: Any) -> None:
    first = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    second = decide(open_request(cast.dev_a, cast.version_a), cast.validator, cast.validator2)
    not_theirs = open_request(cast.ci_b, cast.version_b)  # one step, decided by a validator
    client = Client()
    client.force_login(cast.officer)
    mark = audit_mark()

    response = client.post(
        "/admin/governance/approvalrequest/",
        {"action": "approve_selected", "_selected_action": [first.pk, second.pk, not_theirs.pk], "index": 0},
        follow=True,
    )

    assert response.status_code == 200
    assert sorted(str(message) for message in response.context["messages"]) == sorted(
        [
            f"Request {first.pk}: approved.",
            f"Request {second.pk}: approved.",
            f"Request {not_theirs.pk}: separation_of_duties: "
            "This step is decided by the validator role, which you do not hold.",
        ]
    )
    for request in (first, second, not_theirs):
        request.refresh_from_db()
    assert (first.state, second.state, not_theirs.state, not_theirs.current_step) == (
        "approved",
        "approved",
        "in_review",
        0,
    )
    assert sorted(audit_since(mark), key=repr) == sorted(
        [
            step_decided("officer", first, step=2),
            state_changed("officer", "model-m", "in_review", "approved", steps=2),
            step_decided("officer", second, step=2),
            state_changed("officer", "model-a", "in_review", "approved", steps=2),
            refused("officer", "model-b", rule="missing_role", step=1),
        ],
        key=repr,
    )


def test_invalid_policy_steps_in_the_admin_are_refused_without_a_server_error(cast: Any) -> None:
    client = Client()
    client.force_login(cast.officer)
    current = ApprovalPolicy.objects.get(risk_tier="low", target_stage="production", is_current=True)
    before = snapshot()

    response = client.post(
        f"/admin/governance/approvalpolicy/{current.pk}/change/",
        {"steps": json.dumps([{"name": "Review", "role": "auditor", "quorum": 1}]), "approval_lifetime_days": 30},
        follow=True,
    )

    assert response.status_code == 200
    assert "A step&#x27;s role is validator or compliance_officer." in response.content.decode()
    assert snapshot() == before
