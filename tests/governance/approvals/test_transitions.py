"""The request life cycle through the API: every valid transition, every invalid one, and bad input."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from governance.approvals.services import (
    approval_expire_due,
    approval_request_decide,
    approval_request_submit,
    approval_request_withdraw,
)
from governance.models import ApprovalPolicy, ApprovalRequest, EmailDelivery
from tests.factories import make_version

from .support import (
    MEDIUM_STEPS,
    approve_all,
    audit_mark,
    audit_since,
    decide,
    open_request,
    requested,
    snapshot,
    state_changed,
    step_decided,
    submitted,
)

CONDITIONS = "Re-run the fairness audit on Q3 data"


def body_of(response: Any, *keys: str) -> dict[str, Any]:
    data = response.json()
    return {key: data[key] for key in keys}


def request_in_state(cast: Any, state: str) -> ApprovalRequest:
    """A request on model-m (medium risk: one validator, then one compliance officer) in ``state``."""
    if state == "draft":
        return open_request(cast.dev_a, cast.version_m, submit=False)
    request = open_request(cast.dev_a, cast.version_m)
    if state == "in_review":
        return request
    if state == "withdrawn":
        return approval_request_withdraw(actor=cast.dev_a, request=request)
    if state == "rejected":
        return decide(request, cast.validator, decision="reject", comment="The holdout set leaks into training.")
    if state == "approved_with_conditions":
        request = decide(request, cast.validator)
        return decide(
            request,
            cast.officer,
            decision="approve_with_conditions",
            conditions=CONDITIONS,
            due_date=timezone.now().date() + timedelta(days=30),
        )
    request = approve_all(cast, request)
    if state == "expired":
        assert request.expires_at is not None
        approval_expire_due(now=request.expires_at + timedelta(seconds=1))
    elif state == "superseded":
        newer = open_request(cast.dev_a, make_version(model=cast.model_m, actor=cast.ci_a, seed="m2"))
        approve_all(cast, newer)
    request.refresh_from_db()
    assert request.state == state
    return request


# --- valid transitions ----------------------------------------------------------------------------------------


def test_draft_is_created_bound_to_digest_and_policy(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    mark = audit_mark()

    response = client.post(
        "/api/v1/approvals/",
        {"model": "model-m", "version": 1, "target_stage": "staging", "comment": "Ready for staging", "draft": True},
        format="json",
    )

    assert response.status_code == 201
    created = ApprovalRequest.objects.get()
    policy = ApprovalPolicy.objects.get(risk_tier="medium", target_stage="staging", version=1)
    assert body_of(
        response, "id", "model", "version", "target_stage", "artifact_digest", "state", "step", "policy", "requester"
    ) == {
        "id": created.pk,
        "model": "model-m",
        "version": 1,
        "target_stage": "staging",
        "artifact_digest": cast.version_m.artifact_digest,
        "state": "draft",
        "step": None,
        "policy": {"risk_tier": "medium", "version": 1, "steps": MEDIUM_STEPS},
        "requester": "dev-a",
    }
    assert (
        created.model_version,
        created.artifact_digest,
        created.policy,
        created.requester,
        created.state,
        created.comment,
        created.submitted_at,
    ) == (cast.version_m, cast.version_m.artifact_digest, policy, cast.dev_a, "draft", "Ready for staging", None)
    assert audit_since(mark) == [requested("dev-a", cast.version_m, "staging", policy, comment="Ready for staging")]
    assert EmailDelivery.objects.count() == 0


def test_request_is_submitted_at_once_and_opens_step_one(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    mark = audit_mark()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-a", "version": 1, "target_stage": "production"}, format="json"
    )

    assert response.status_code == 201
    created = ApprovalRequest.objects.get()
    policy = ApprovalPolicy.objects.get(risk_tier="high", target_stage="production", version=1)
    assert body_of(response, "state", "step", "artifact_digest", "decisions") == {
        "state": "in_review",
        "step": {"number": 1, "of": 2, "name": "Independent validation", "role": "validator", "quorum": 2},
        "artifact_digest": cast.version_a.artifact_digest,
        "decisions": [],
    }
    assert (created.state, created.current_step, created.policy, created.artifact_digest) == (
        "in_review",
        0,
        policy,
        cast.version_a.artifact_digest,
    )
    assert created.submitted_at is not None
    assert audit_since(mark) == [
        requested("dev-a", cast.version_a, "production", policy),
        *submitted("dev-a", "model-a", steps=2),
    ]


def test_draft_is_submitted_by_its_requester(cast: Any) -> None:
    draft = open_request(cast.dev_a, cast.version_m, submit=False)
    mark = audit_mark()

    request = approval_request_submit(actor=cast.dev_a, request=draft)

    assert (request.state, request.current_step, request.submitted_at is not None) == ("in_review", 0, True)
    assert audit_since(mark) == submitted("dev-a", "model-m", steps=2)
    assert list(EmailDelivery.objects.values_list("template", "to")) == [
        ("approval_step_open", ["validator-2@example.org", "validator@example.org"])
    ]


def test_draft_is_not_submitted_by_someone_else(cast: Any) -> None:
    draft = open_request(cast.dev_a, cast.version_m, submit=False)
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_request_submit(actor=cast.owner_a, request=draft)

    assert (raised.value.code, raised.value.status) == ("permission_denied", 403)
    assert snapshot() == before


def test_submitted_request_is_not_submitted_again(cast: Any) -> None:
    request = open_request(cast.dev_a, cast.version_m)
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_request_submit(actor=cast.dev_a, request=request)

    assert (raised.value.code, raised.value.status) == ("invalid_transition", 409)
    assert snapshot() == before


def test_steps_then_approval(cast: Any, api: Any) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    assert (request.state, request.current_step) == ("in_review", 1)
    mark = audit_mark()

    response = officer.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")

    assert response.status_code == 200
    request.refresh_from_db()
    assert body_of(response, "state", "step") == {"state": "approved", "step": None}
    assert [(d["step"], d["approver"], d["decision"]) for d in response.json()["decisions"]] == [
        (1, "validator", "approve"),
        (2, "officer", "approve"),
    ]
    assert request.state == "approved"
    assert request.decided_at is not None and request.expires_at is not None
    assert request.expires_at - request.decided_at == timedelta(days=365)
    assert audit_since(mark) == [
        step_decided("officer", request, step=2),
        state_changed("officer", "model-m", "in_review", "approved", steps=2),
    ]


def test_approval_with_conditions(cast: Any, api: Any) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    due = timezone.now().date() + timedelta(days=30)
    mark = audit_mark()

    response = officer.post(
        f"/api/v1/approvals/{request.pk}/decide",
        {"decision": "approve_with_conditions", "conditions": CONDITIONS, "due_date": due.isoformat()},
        format="json",
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert (request.state, request.conditions, request.conditions_due, request.conditions_met_at) == (
        "approved_with_conditions",
        f"- {CONDITIONS}",
        due,
        None,
    )
    assert body_of(response, "state", "conditions", "conditions_due") == {
        "state": "approved_with_conditions",
        "conditions": f"- {CONDITIONS}",
        "conditions_due": due.isoformat(),
    }
    assert audit_since(mark) == [
        step_decided(
            "officer", request, step=2, decision="approve_with_conditions", conditions=CONDITIONS, due_date=due
        ),
        state_changed("officer", "model-m", "in_review", "approved_with_conditions", steps=2),
    ]


def test_conditions_met_by_a_compliance_officer_with_evidence(cast: Any, api: Any) -> None:
    officer = api(cast.officer)
    request = request_in_state(cast, "approved_with_conditions")
    mark = audit_mark()

    response = officer.post(
        f"/api/v1/approvals/{request.pk}/conditions-met", {"evidence": "Fairness audit #12 passed"}, format="json"
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert (request.state, request.conditions_met_at is not None) == ("approved", True)
    assert response.json()["state"] == "approved"
    assert audit_since(mark) == [
        (
            "APPROVAL_CONDITIONS_MET",
            "officer",
            "model-m",
            None,
            {"conditions": f"- {CONDITIONS}", "evidence": "Fairness audit #12 passed"},
        ),
        state_changed("officer", "model-m", "approved_with_conditions", "approved", steps=2, reason="conditions met"),
    ]


@pytest.mark.parametrize("who", ["dev_a", "owner_a"])
def test_conditions_met_by_anyone_else_is_refused(cast: Any, api: Any, who: str) -> None:
    client = api(getattr(cast, who))
    request = request_in_state(cast, "approved_with_conditions")
    before = snapshot()

    response = client.post(f"/api/v1/approvals/{request.pk}/conditions-met", {"evidence": "done"}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert snapshot() == before


@pytest.mark.parametrize("evidence", ["", "   "])
def test_conditions_met_needs_evidence(cast: Any, api: Any, evidence: str) -> None:
    officer = api(cast.officer)
    request = request_in_state(cast, "approved_with_conditions")
    before = snapshot()

    response = officer.post(f"/api/v1/approvals/{request.pk}/conditions-met", {"evidence": evidence}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["extra"]["fields"])) == ("validation_error", ["evidence"])
    assert snapshot() == before


def test_conditions_met_service_needs_evidence(cast: Any) -> None:
    from governance.approvals.services import approval_conditions_met

    request = request_in_state(cast, "approved_with_conditions")
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_conditions_met(actor=cast.officer, request=request, evidence=" \n ")

    assert (raised.value.code, raised.value.status) == ("comment_required", 400)
    assert snapshot() == before


def test_rejection_with_comment(cast: Any, api: Any) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    mark = audit_mark()

    response = officer.post(
        f"/api/v1/approvals/{request.pk}/decide",
        {"decision": "reject", "comment": "No human-oversight plan."},
        format="json",
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert (request.state, request.decided_at is not None, request.expires_at) == ("rejected", True, None)
    assert audit_since(mark) == [
        step_decided("officer", request, step=2, decision="reject", comment="No human-oversight plan."),
        state_changed("officer", "model-m", "in_review", "rejected", steps=2, reason="No human-oversight plan."),
    ]


@pytest.mark.parametrize(("state", "who"), [("draft", "dev_a"), ("in_review", "dev_a"), ("in_review", "officer")])
def test_withdraw_an_open_request(cast: Any, api: Any, state: str, who: str) -> None:
    client = api(getattr(cast, who))
    request = request_in_state(cast, state)
    mark = audit_mark()

    response = client.post(
        f"/api/v1/approvals/{request.pk}/withdraw", {"comment": "Superseded by a retrain."}, format="json"
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == "withdrawn"
    assert audit_since(mark) == [
        state_changed(
            getattr(cast, who).username, "model-m", state, "withdrawn", steps=2, reason="Superseded by a retrain."
        )
    ]


def test_withdraw_a_submitted_request(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    request = open_request(cast.dev_a, cast.version_m, submit=False)
    # "submitted" lasts only inside the submitting transaction; set it to reach the transition.
    ApprovalRequest.objects.filter(pk=request.pk).update(state="submitted")
    mark = audit_mark()

    response = client.post(f"/api/v1/approvals/{request.pk}/withdraw", {}, format="json")

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == "withdrawn"
    assert audit_since(mark) == [state_changed("dev-a", "model-m", "submitted", "withdrawn", steps=2)]


def test_withdraw_by_the_owner_who_did_not_request_is_refused(cast: Any, api: Any) -> None:
    client = api(cast.owner_a)
    request = request_in_state(cast, "in_review")
    before = snapshot()

    response = client.post(f"/api/v1/approvals/{request.pk}/withdraw", {}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert snapshot() == before


# --- invalid transitions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", ["draft", "rejected", "withdrawn", "approved", "approved_with_conditions", "expired", "superseded"]
)
def test_decide_on_a_request_not_in_review(cast: Any, api: Any, state: str) -> None:
    officer = api(cast.officer)
    request = request_in_state(cast, state)
    before = snapshot()

    response = officer.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")

    assert response.status_code == 409
    assert body_of(response, "code", "extra") == {
        "code": "invalid_transition",
        "extra": {"request": request.pk, "state": state},
    }
    assert snapshot() == before


@pytest.mark.parametrize("state", ["approved", "approved_with_conditions", "rejected", "withdrawn", "expired"])
def test_withdraw_a_closed_request(cast: Any, api: Any, state: str) -> None:
    client = api(cast.dev_a)
    request = request_in_state(cast, state)
    before = snapshot()

    response = client.post(f"/api/v1/approvals/{request.pk}/withdraw", {}, format="json")

    assert response.status_code == 409
    assert body_of(response, "code", "extra") == {
        "code": "invalid_transition",
        "extra": {"request": request.pk, "from": state, "to": "withdrawn"},
    }
    assert snapshot() == before


@pytest.mark.parametrize("state", ["approved", "in_review", "rejected"])
def test_conditions_met_on_a_request_without_open_conditions(cast: Any, api: Any, state: str) -> None:
    officer = api(cast.officer)
    request = request_in_state(cast, state)
    before = snapshot()

    response = officer.post(f"/api/v1/approvals/{request.pk}/conditions-met", {"evidence": "done"}, format="json")

    assert response.status_code == 409
    assert body_of(response, "code", "extra") == {"code": "invalid_transition", "extra": {"state": state}}
    assert snapshot() == before


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("comment", [None, "", "   "])
def test_rejection_needs_a_comment(cast: Any, api: Any, comment: str | None) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    before = snapshot()
    payload = {"decision": "reject"} if comment is None else {"decision": "reject", "comment": comment}

    response = officer.post(f"/api/v1/approvals/{request.pk}/decide", payload, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "comment_required")
    assert snapshot() == before


@pytest.mark.parametrize(
    "payload",
    [
        {"due_date": "+30"},
        {"conditions": CONDITIONS},
        {"conditions": "  ", "due_date": "+30"},
        {"conditions": CONDITIONS, "due_date": "+0"},
        {"conditions": CONDITIONS, "due_date": "-1"},
    ],
    ids=["no-conditions", "no-due-date", "blank-conditions", "due-today", "due-yesterday"],
)
def test_conditional_approval_needs_conditions_and_a_future_due_date(
    cast: Any, api: Any, payload: dict[str, str]
) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    if "due_date" in payload:
        days = int(payload["due_date"])
        payload = {**payload, "due_date": (timezone.now().date() + timedelta(days=days)).isoformat()}
    before = snapshot()

    response = officer.post(
        f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve_with_conditions", **payload}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "conditions_required")
    assert snapshot() == before


def test_unknown_decision_is_a_validation_error(cast: Any, api: Any) -> None:
    officer = api(cast.officer)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    before = snapshot()

    response = officer.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "abstain"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["extra"]["fields"])) == ("validation_error", ["decision"])
    assert snapshot() == before


@pytest.mark.parametrize("draft", [True, False])
def test_second_open_request_for_the_same_version_and_stage(cast: Any, api: Any, draft: bool) -> None:
    client = api(cast.dev_a)
    open_request(cast.dev_a, cast.version_m, submit=not draft)
    before = snapshot()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-m", "version": 1, "target_stage": "staging"}, format="json"
    )

    assert response.status_code == 409
    assert body_of(response, "code", "extra") == {
        "code": "duplicate_request",
        "extra": {"model": "model-m", "version": 1, "target_stage": "staging"},
    }
    assert snapshot() == before


def test_after_withdrawal_a_new_request_is_accepted(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    request_in_state(cast, "withdrawn")

    response = client.post(
        "/api/v1/approvals/", {"model": "model-m", "version": 1, "target_stage": "staging"}, format="json"
    )

    assert (response.status_code, response.json()["state"]) == (201, "in_review")
    assert list(ApprovalRequest.objects.order_by("id").values_list("state", flat=True)) == ["withdrawn", "in_review"]


def test_other_teams_token_cannot_see_the_model(cast: Any, api: Any) -> None:
    client = api(cast.ci_b)
    before = snapshot()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-a", "version": 1, "target_stage": "staging"}, format="json"
    )

    assert response.status_code == 404
    assert body_of(response, "code", "extra") == {"code": "model_not_found", "extra": {"model": "model-a"}}
    assert snapshot() == before


def test_auditor_sees_the_model_but_may_not_request(cast: Any, api: Any) -> None:
    client = api(cast.auditor)
    before = snapshot()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-a", "version": 1, "target_stage": "staging"}, format="json"
    )

    assert response.status_code == 403
    assert body_of(response, "code", "extra") == {
        "code": "permission_denied",
        "extra": {"model": "model-a", "permission": "request_promotion"},
    }
    assert snapshot() == before


@pytest.mark.parametrize("stage", ["qa", "archived", "none", ""])
def test_bad_stage(cast: Any, api: Any, stage: str) -> None:
    client = api(cast.dev_a)
    before = snapshot()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-a", "version": 1, "target_stage": stage}, format="json"
    )

    assert response.status_code == 400
    if stage:
        assert body_of(response, "code", "extra") == {"code": "invalid_stage", "extra": {"target_stage": stage}}
    else:
        assert (response.json()["code"], list(response.json()["extra"]["fields"])) == (
            "validation_error",
            ["target_stage"],
        )
    assert snapshot() == before


def test_unknown_version(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    before = snapshot()

    response = client.post(
        "/api/v1/approvals/", {"model": "model-a", "version": 9, "target_stage": "staging"}, format="json"
    )

    assert response.status_code == 404
    assert body_of(response, "code", "extra") == {
        "code": "model_version_not_found",
        "extra": {"model": "model-a", "version": 9},
    }
    assert snapshot() == before


def test_decide_service_refuses_a_request_that_moved_on(cast: Any) -> None:
    """A stale copy (the step moved on since it was read) is refused under the row lock."""
    stale = open_request(cast.dev_a, cast.version_m)
    decide(ApprovalRequest.objects.get(pk=stale.pk), cast.validator)
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_request_decide(actor=cast.validator2, request=stale, decision="approve")

    assert (raised.value.code, raised.value.status) == ("invalid_transition", 409)
    assert raised.value.extra == {"request": stale.pk, "state": "in_review", "step": 2}
    assert snapshot() == before
