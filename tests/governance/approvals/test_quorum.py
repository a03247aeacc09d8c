"""Quorum: a high-risk request needs two distinct validators on step 1, then one compliance officer."""

from datetime import timedelta
from typing import Any

from governance.models import ApprovalDecision

from .support import audit_mark, audit_since, decide, open_request, state_changed, step_decided


def test_high_risk_needs_two_validators_then_one_officer(cast: Any) -> None:
    request = open_request(cast.dev_a, cast.version_a)

    mark = audit_mark()
    request = decide(request, cast.validator)
    assert (request.state, request.current_step) == ("in_review", 0)
    assert audit_since(mark) == [step_decided("validator", request, step=1)]

    mark = audit_mark()
    request = decide(request, cast.validator2)
    assert (request.state, request.current_step) == ("in_review", 1)
    assert audit_since(mark) == [
        step_decided("validator-2", request, step=1),
        state_changed("validator-2", "model-a", "in_review", "in_review", steps=2, step=2, reason="step 1 complete"),
    ]

    mark = audit_mark()
    request = decide(request, cast.officer)
    assert request.state == "approved"
    assert request.decided_at is not None and request.expires_at is not None
    assert request.expires_at - request.decided_at == timedelta(days=180)
    assert audit_since(mark) == [
        step_decided("officer", request, step=2),
        state_changed("officer", "model-a", "in_review", "approved", steps=2),
    ]
    assert list(
        ApprovalDecision.objects.filter(request=request).values_list("step", "approver__username", "decision")
    ) == [
        (0, "validator", "approve"),
        (0, "validator-2", "approve"),
        (1, "officer", "approve"),
    ]


def test_a_rejection_ends_the_request_before_quorum(cast: Any) -> None:
    request = decide(open_request(cast.dev_a, cast.version_a), cast.validator)
    mark = audit_mark()

    request = decide(request, cast.validator2, decision="reject", comment="Calibration is off for group B.")

    assert (request.state, request.current_step) == ("rejected", 0)
    assert audit_since(mark) == [
        step_decided("validator-2", request, step=1, decision="reject", comment="Calibration is off for group B."),
        state_changed(
            "validator-2", "model-a", "in_review", "rejected", steps=2, reason="Calibration is off for group B."
        ),
    ]


def test_validators_decide_through_the_api(cast: Any, api: Any) -> None:
    """A validator (a role holder with the approve permission on every model) decides through the API."""
    first, second, officer = api(cast.validator), api(cast.validator2), api(cast.officer)
    request = open_request(cast.dev_a, cast.version_a)

    after_one = first.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")
    after_two = second.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")
    final = officer.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")

    assert (after_one.status_code, after_one.json().get("step")) == (
        200,
        {"number": 1, "of": 2, "name": "Independent validation", "role": "validator", "quorum": 2},
    )
    assert (after_two.status_code, after_two.json().get("step")) == (
        200,
        {"number": 2, "of": 2, "name": "Compliance sign-off", "role": "compliance_officer", "quorum": 1},
    )
    assert (final.status_code, final.json().get("state")) == (200, "approved")
