"""Approval policies: the seeded defaults, versioning, and who may change them."""

import json
from typing import Any

import pytest
from django.test import Client

from core.errors import ApplicationError
from governance.approvals.services import approval_policy_create_version
from governance.models import ApprovalPolicy, AuditEntry
from tests.factories import make_version

from .support import (
    HIGH_STEPS,
    LOW_STEPS,
    MEDIUM_STEPS,
    SIGN_OFF,
    VALIDATION,
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

NEW_HIGH_STEPS = [{"name": "Validation", "role": "validator", "quorum": 1}, SIGN_OFF]


def test_seeded_defaults_for_staging_and_production(db: Any) -> None:
    rows = list(
        ApprovalPolicy.objects.order_by("risk_tier", "target_stage", "version").values_list(
            "risk_tier", "target_stage", "version", "steps", "approval_lifetime_days", "is_current", "created_by"
        )
    )

    assert rows == [
        ("high", "production", 1, HIGH_STEPS, 180, True, None),
        ("high", "staging", 1, HIGH_STEPS, 180, True, None),
        ("low", "production", 1, LOW_STEPS, 730, True, None),
        ("low", "staging", 1, LOW_STEPS, 730, True, None),
        ("medium", "production", 1, MEDIUM_STEPS, 365, True, None),
        ("medium", "staging", 1, MEDIUM_STEPS, 365, True, None),
    ]


def test_new_version_becomes_current_and_is_logged(cast: Any) -> None:
    mark = audit_mark()

    policy = approval_policy_create_version(
        actor=cast.officer, risk_tier="high", target_stage="staging", steps=NEW_HIGH_STEPS, approval_lifetime_days=90
    )

    assert (policy.version, policy.is_current, policy.created_by, policy.steps, policy.approval_lifetime_days) == (
        2,
        True,
        cast.officer,
        NEW_HIGH_STEPS,
        90,
    )
    assert list(
        ApprovalPolicy.objects.filter(risk_tier="high")
        .order_by("target_stage", "version")
        .values_list("target_stage", "version", "is_current")
    ) == [("production", 1, True), ("staging", 1, False), ("staging", 2, True)]
    assert audit_since(mark) == [
        (
            "APPROVAL_POLICY_CREATED",
            "officer",
            "",
            {"version": 1, "steps": HIGH_STEPS},
            {"version": 2, "steps": NEW_HIGH_STEPS, "approval_lifetime_days": 90},
        )
    ]
    entry = AuditEntry.objects.get(id__gt=mark)
    assert (entry.subject_type, entry.subject_id) == ("governance.ApprovalPolicy", str(policy.pk))


def test_open_request_keeps_its_policy_version_and_a_new_request_takes_the_new_one(cast: Any) -> None:
    first = open_request(cast.dev_a, cast.version_a)
    old_policy = first.policy
    new_policy = approval_policy_create_version(
        actor=cast.officer, risk_tier="high", target_stage="staging", steps=NEW_HIGH_STEPS, approval_lifetime_days=90
    )

    # v1 wants two validators: one approval leaves the request on step 1.
    first = decide(first, cast.validator)
    assert (first.policy_id, first.state, first.current_step) == (old_policy.pk, "in_review", 0)
    first = decide(first, cast.validator2, cast.officer)
    assert (first.policy_id, first.state, first.decided_at is not None) == (old_policy.pk, "approved", True)
    assert first.expires_at is not None and first.decided_at is not None
    assert (first.expires_at - first.decided_at).days == 180

    version_2 = make_version(model=cast.model_a, actor=cast.ci_a, seed="a2")
    mark = audit_mark()
    second = open_request(cast.dev_a, version_2)
    assert second.policy_id == new_policy.pk
    assert audit_since(mark) == [
        requested("dev-a", version_2, "staging", new_policy),
        *submitted("dev-a", "model-a", steps=2),
    ]

    # v2 wants one validator: one approval opens the compliance step.
    mark = audit_mark()
    second = decide(second, cast.validator)
    assert (second.state, second.current_step) == ("in_review", 1)
    assert audit_since(mark) == [
        step_decided("validator", second, step=1),
        state_changed("validator", "model-a", "in_review", "in_review", steps=2, step=2, reason="step 1 complete"),
    ]
    second = decide(second, cast.officer)
    assert second.expires_at is not None and second.decided_at is not None
    assert (second.state, (second.expires_at - second.decided_at).days) == ("approved", 90)


@pytest.mark.parametrize(
    "steps",
    [
        [],
        "validator",
        [{"name": "Review", "role": "auditor", "quorum": 1}],
        [{"name": "Review", "role": "validator", "quorum": 0}],
        [{"name": "Review", "role": "validator", "quorum": 11}],
        [{"name": "Review", "role": "validator", "quorum": "1"}],
        [{"name": "Review", "role": "validator"}],
        [{**VALIDATION, "deadline_days": 3}],
        [VALIDATION, "sign-off"],
    ],
)
def test_invalid_steps_are_refused(cast: Any, steps: Any) -> None:
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_policy_create_version(
            actor=cast.officer, risk_tier="medium", target_stage="production", steps=steps, approval_lifetime_days=365
        )

    assert (raised.value.code, raised.value.status) == ("invalid_policy", 400)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("risk_tier", "target_stage", "days"),
    [("extreme", "staging", 30), ("high", "archived", 30), ("high", "staging", 0)],
)
def test_unknown_tier_stage_or_lifetime_is_refused(cast: Any, risk_tier: str, target_stage: str, days: int) -> None:
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_policy_create_version(
            actor=cast.officer,
            risk_tier=risk_tier,
            target_stage=target_stage,
            steps=MEDIUM_STEPS,
            approval_lifetime_days=days,
        )

    assert (raised.value.code, raised.value.status) == ("invalid_policy", 400)
    assert snapshot() == before


@pytest.mark.parametrize("who", ["validator", "dev_a", "owner_a", "auditor"])
def test_only_a_compliance_officer_creates_a_version(cast: Any, who: str) -> None:
    before = snapshot()

    with pytest.raises(ApplicationError) as raised:
        approval_policy_create_version(
            actor=getattr(cast, who),
            risk_tier="high",
            target_stage="staging",
            steps=MEDIUM_STEPS,
            approval_lifetime_days=30,
        )

    assert (raised.value.code, raised.value.status) == ("permission_denied", 403)
    assert snapshot() == before


def test_officer_saves_a_new_version_in_the_admin(cast: Any) -> None:
    client = Client()
    client.force_login(cast.officer)
    current = ApprovalPolicy.objects.get(risk_tier="low", target_stage="production", is_current=True)
    mark = audit_mark()

    response = client.post(
        f"/admin/governance/approvalpolicy/{current.pk}/change/",
        {"steps": json.dumps(MEDIUM_STEPS), "approval_lifetime_days": 400},
    )

    assert (response.status_code, response.headers["Location"]) == (302, "/admin/governance/approvalpolicy/")
    assert list(
        ApprovalPolicy.objects.filter(risk_tier="low", target_stage="production")
        .order_by("version")
        .values_list("version", "is_current", "steps", "approval_lifetime_days")
    ) == [(1, False, LOW_STEPS, 730), (2, True, MEDIUM_STEPS, 400)]
    assert audit_since(mark) == [
        (
            "APPROVAL_POLICY_CREATED",
            "officer",
            "",
            {"version": 1, "steps": LOW_STEPS},
            {"version": 2, "steps": MEDIUM_STEPS, "approval_lifetime_days": 400},
        )
    ]


def test_non_officer_cannot_save_a_policy_in_the_admin(cast: Any) -> None:
    client = Client()
    client.force_login(cast.auditor)
    current = ApprovalPolicy.objects.get(risk_tier="low", target_stage="production", is_current=True)
    before = snapshot()

    added = client.post(
        "/admin/governance/approvalpolicy/add/",
        {
            "risk_tier": "low",
            "target_stage": "production",
            "steps": json.dumps(MEDIUM_STEPS),
            "approval_lifetime_days": 9,
        },
    )
    changed = client.post(
        f"/admin/governance/approvalpolicy/{current.pk}/change/",
        {"steps": json.dumps(MEDIUM_STEPS), "approval_lifetime_days": 9},
    )

    assert (added.status_code, changed.status_code) == (403, 403)
    assert snapshot() == before
