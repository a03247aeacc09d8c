"""GET /api/v1/approvals/: visibility and the filters waiting_for_me, model and state."""

from typing import Any

from governance.approvals.services import approval_request_withdraw
from tests.factories import make_model, make_version

from .support import approve_all, decide, open_request

# Queries of one page of the list (authentication included), whatever its length.
LIST_QUERIES = 7
# Queries of ?waiting_for_me=true for a queue of one request; a longer queue must not need more.
WAITING_QUERIES = 15


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == len(body["results"])
    return [row["id"] for row in body["results"]]


def test_waiting_for_me_for_a_validator(cast: Any, api: Any) -> None:
    client = api(cast.validator)
    own_model = make_model(owner=cast.validator, team=cast.world.team_b, name="model-v", risk_tier="low")
    own_version = make_version(model=own_model, actor=cast.ci_b, seed="v1")
    blocked_as_owner = open_request(cast.ci_b, own_version)
    theirs_high = open_request(cast.dev_a, cast.version_a)
    theirs_low = open_request(cast.ci_b, cast.version_b)
    compliance_step = decide(open_request(cast.dev_a, cast.version_m), cast.validator2)
    already_decided = decide(
        open_request(cast.dev_a, make_version(model=cast.model_a, actor=cast.ci_a, seed="a2")), cast.validator
    )
    draft = open_request(cast.dev_a, cast.version_a, "production", submit=False)
    assert (already_decided.state, already_decided.current_step, compliance_step.current_step, draft.state) == (
        "in_review",
        0,
        1,
        "draft",
    )
    assert blocked_as_owner.state == "in_review"

    response = client.get("/api/v1/approvals/?waiting_for_me=true")

    assert ids(response) == [theirs_low.pk, theirs_high.pk]


def test_waiting_for_me_for_a_validator_who_is_also_an_officer(cast: Any, api: Any, dual_role: Any) -> None:
    client = api(dual_role)
    validation_step = open_request(cast.dev_a, cast.version_a)
    sign_off_step = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    version_m2 = make_version(model=cast.model_m, actor=cast.ci_a, seed="m2")
    validated_by_them = decide(open_request(cast.dev_a, version_m2), dual_role)
    approve_all(cast, open_request(cast.ci_b, cast.version_b))
    assert (sign_off_step.current_step, validated_by_them.current_step) == (1, 1)

    response = client.get("/api/v1/approvals/?waiting_for_me=true")

    # Not the request whose first step they approved: one person decides one step.
    assert ids(response) == [sign_off_step.pk, validation_step.pk]


def test_filter_by_model_and_state(cast: Any, api: Any) -> None:
    client = api(cast.officer)
    approved_a = approve_all(cast, open_request(cast.dev_a, cast.version_a))
    open_m = open_request(cast.dev_a, cast.version_m)
    approved_b = approve_all(cast, open_request(cast.ci_b, cast.version_b))
    withdrawn_m = approval_request_withdraw(
        actor=cast.dev_a, request=open_request(cast.dev_a, cast.version_m, "production")
    )

    assert ids(client.get("/api/v1/approvals/")) == [withdrawn_m.pk, approved_b.pk, open_m.pk, approved_a.pk]
    assert ids(client.get("/api/v1/approvals/?model=model-m")) == [withdrawn_m.pk, open_m.pk]
    assert ids(client.get("/api/v1/approvals/?state=approved")) == [approved_b.pk, approved_a.pk]
    assert ids(client.get("/api/v1/approvals/?model=model-a&state=approved")) == [approved_a.pk]
    assert ids(client.get("/api/v1/approvals/?model=model-m&state=approved")) == []
    assert ids(client.get("/api/v1/approvals/?model=no-such-model")) == []


def test_a_team_sees_only_its_models_requests(cast: Any, api: Any) -> None:
    client = api(cast.ci_b)
    open_request(cast.dev_a, cast.version_a)
    theirs = open_request(cast.ci_b, cast.version_b)

    assert ids(client.get("/api/v1/approvals/")) == [theirs.pk]
    assert ids(client.get("/api/v1/approvals/?model=model-a")) == []
    other = client.get(f"/api/v1/approvals/{theirs.pk - 1}")
    assert (other.status_code, other.json()["code"]) == (404, "approval_not_found")


def _many_requests_at_the_compliance_step(cast: Any, count: int) -> None:
    for n in range(count):
        version = make_version(model=cast.model_m, actor=cast.ci_a, seed=f"queue-{n}")
        decide(open_request(cast.dev_a, version), cast.validator)


def test_list_query_count_does_not_grow(cast: Any, api: Any, django_assert_max_num_queries: Any) -> None:
    client = api(cast.officer)
    _many_requests_at_the_compliance_step(cast, 5)
    client.get("/api/v1/approvals/")  # the token's first use records last_used_at

    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get("/api/v1/approvals/")

    assert len(ids(response)) == 5


def test_waiting_for_me_query_count_does_not_grow(cast: Any, api: Any, django_assert_max_num_queries: Any) -> None:
    client = api(cast.officer)
    _many_requests_at_the_compliance_step(cast, 5)
    client.get("/api/v1/approvals/")  # the token's first use records last_used_at

    with django_assert_max_num_queries(WAITING_QUERIES):
        response = client.get("/api/v1/approvals/?waiting_for_me=true")

    assert len(ids(response)) == 5
