"""The gate's question, governance.approvals.selectors.approval_status_for: is this version approved now?"""

from datetime import timedelta
from typing import Any

from django.utils import timezone

from governance.approvals.selectors import ApprovalStatus, approval_status_for
from governance.approvals.services import approval_conditions_met, approval_expire_due
from governance.models import ApprovalRequest
from tests.factories import make_version

from .support import approve_all, audit_mark, audit_since, decide, open_request, state_changed, step_decided


def test_approved(cast: Any) -> None:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    assert request.expires_at is not None
    expires = request.expires_at.isoformat()

    status = approval_status_for(version=cast.version_m, stage="staging")

    assert status == ApprovalStatus(True, "approved", f"Approved until {expires}.", request.pk, 1, expires)


def test_no_request(cast: Any) -> None:
    assert approval_status_for(version=cast.version_m, stage="staging") == ApprovalStatus(
        False, "no_request", "No approval was requested for staging."
    )


def test_approval_for_another_stage_does_not_count(cast: Any) -> None:
    approve_all(cast, open_request(cast.dev_a, cast.version_m, "staging"))

    status = approval_status_for(version=cast.version_m, stage="production")

    assert (status.approved, status.reason) == (False, "no_request")


def test_in_review(cast: Any) -> None:
    request = open_request(cast.dev_a, cast.version_m)

    assert approval_status_for(version=cast.version_m, stage="staging") == ApprovalStatus(
        False, "request_in_review", "The latest request is in_review.", request.pk, 1
    )


def test_rejected(cast: Any) -> None:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator, decision="reject", comment="No.")

    assert approval_status_for(version=cast.version_m, stage="staging") == ApprovalStatus(
        False, "request_rejected", "The latest request is rejected.", request.pk, 1
    )


def test_expired_by_the_sweep(cast: Any) -> None:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    assert request.expires_at is not None
    approval_expire_due(now=request.expires_at + timedelta(days=1))

    assert approval_status_for(version=cast.version_m, stage="staging") == ApprovalStatus(
        False, "request_expired", "The latest request is expired.", request.pk, 1
    )


def test_lapsed_before_the_sweep_ran(cast: Any) -> None:
    request = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    lapsed = timezone.now() - timedelta(minutes=1)
    # The hourly sweep has not run yet: the approval is still "approved" but its lifetime is over.
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=lapsed)

    status = approval_status_for(version=cast.version_m, stage="staging")

    assert status == ApprovalStatus(
        False, "expired", f"The approval expired at {lapsed.isoformat()}.", request.pk, 1, lapsed.isoformat()
    )


def _conditional(cast: Any) -> ApprovalRequest:
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    return decide(
        request,
        cast.officer,
        decision="approve_with_conditions",
        conditions="Publish the model card",
        due_date=timezone.now().date() + timedelta(days=14),
    )


def test_conditions_not_yet_due_count_as_approved(cast: Any) -> None:
    request = _conditional(cast)

    status = approval_status_for(version=cast.version_m, stage="staging")

    assert (status.approved, status.reason, status.request_id) == (True, "approved", request.pk)


def test_conditions_overdue(cast: Any) -> None:
    request = _conditional(cast)
    yesterday = timezone.now().date() - timedelta(days=1)
    # Fourteen days later: the due date has passed and nobody recorded the conditions as met.
    ApprovalRequest.objects.filter(pk=request.pk).update(conditions_due=yesterday)

    status = approval_status_for(version=cast.version_m, stage="staging")

    assert (status.approved, status.reason, status.detail) == (
        False,
        "conditions_overdue",
        f"The approval's conditions were due {yesterday.isoformat()} and are not recorded as met.",
    )

    approval_conditions_met(actor=cast.officer, request=request, evidence="Card v3 published")
    assert approval_status_for(version=cast.version_m, stage="staging").approved is True


def test_newer_version_supersedes_the_older_approval(cast: Any) -> None:
    older = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    version_2 = make_version(model=cast.model_m, actor=cast.ci_a, seed="m2")
    newer = decide(open_request(cast.dev_a, version_2), cast.validator)
    mark = audit_mark()

    newer = decide(newer, cast.officer)

    older.refresh_from_db()
    assert (newer.state, older.state, older.superseded_by) == ("approved", "superseded", newer)
    assert audit_since(mark) == [
        step_decided("officer", newer, step=2),
        state_changed("officer", "model-m", "in_review", "approved", steps=2),
        state_changed(
            "officer", "model-m", "approved", "superseded", steps=2, reason=f"superseded by request {newer.pk}"
        ),
    ]
    assert approval_status_for(version=cast.version_m, stage="staging") == ApprovalStatus(
        False, "request_superseded", "The latest request is superseded.", older.pk, 1
    )
    assert approval_status_for(version=version_2, stage="staging").approved is True


def test_approval_for_another_stage_is_not_superseded(cast: Any) -> None:
    production = approve_all(cast, open_request(cast.dev_a, cast.version_m, "production"))
    version_2 = make_version(model=cast.model_m, actor=cast.ci_a, seed="m2")

    approve_all(cast, open_request(cast.dev_a, version_2, "staging"))

    production.refresh_from_db()
    assert production.state == "approved"
    assert approval_status_for(version=cast.version_m, stage="production").approved is True


def test_a_granted_request_outranks_a_newer_open_one(cast: Any) -> None:
    granted = approve_all(cast, open_request(cast.dev_a, cast.version_m))
    newer = open_request(cast.dev_a, cast.version_m)

    status = approval_status_for(version=cast.version_m, stage="staging")

    assert newer.pk > granted.pk
    assert (status.approved, status.reason, status.request_id) == (True, "approved", granted.pk)
