"""Separation of duties through POST /api/v1/approvals/{id}/decide: every rule refuses with 403
``separation_of_duties``, logs the refusal in its own committed transaction, and decides nothing."""

from typing import Any

from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm, remove_perm

from governance.models import ApprovalRequest

from .support import audit_mark, audit_since, decide, open_request, refused, snapshot


def _without_audit(state: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in state.items() if key != "audit"}


def assert_refused(
    client: Any, request: ApprovalRequest, *, actor: str, rule: str, step: int, decision: str = "approve"
) -> None:
    """``client`` is refused deciding ``request`` under ``rule``: one refusal logged, nothing else."""
    before = snapshot()
    mark = audit_mark()

    response = client.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": decision}, format="json")

    assert response.status_code == 403, response.json()
    body = response.json()
    assert (body["code"], body["extra"]) == ("separation_of_duties", {"rule": rule, "request": request.pk})
    assert audit_since(mark) == [refused(actor, request.model_version.model.name, rule=rule, step=step)]
    assert _without_audit(snapshot()) == _without_audit(before)


def test_requester_cannot_approve(cast: Any, api: Any) -> None:
    client = api(cast.dev_a)
    request = open_request(cast.dev_a, cast.version_a)

    assert_refused(client, request, actor="dev-a", rule="requester_cannot_approve", step=1)


def test_owner_cannot_approve(cast: Any, api: Any) -> None:
    client = api(cast.owner_a)
    request = open_request(cast.dev_a, cast.version_a)

    assert_refused(client, request, actor="owner-a", rule="owner_cannot_approve", step=1)


def test_creator_of_the_version_cannot_approve(cast: Any, api: Any) -> None:
    client = api(cast.ci_a)
    request = open_request(cast.dev_a, cast.version_a)

    assert_refused(client, request, actor="ci-a", rule="creator_cannot_approve", step=1)


def test_developer_cannot_validate(cast: Any, api: Any, team_validator: Any) -> None:
    client = api(team_validator)
    request = open_request(cast.dev_a, cast.version_a)

    assert_refused(client, request, actor="team-validator", rule="developer_cannot_validate", step=1)


def test_one_step_per_person(cast: Any, api: Any, dual_role: Any) -> None:
    client = api(dual_role)
    request = open_request(cast.dev_a, cast.version_m)
    approved = client.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")
    assert (approved.status_code, approved.json()["step"]["number"]) == (200, 2)
    request.refresh_from_db()

    assert_refused(client, request, actor="dual", rule="one_step_per_person", step=2)


def test_one_person_counts_once_towards_a_quorum(cast: Any, api: Any, dual_role: Any) -> None:
    client = api(dual_role)
    request = open_request(cast.dev_a, cast.version_a)
    approved = client.post(f"/api/v1/approvals/{request.pk}/decide", {"decision": "approve"}, format="json")
    assert (approved.status_code, approved.json()["step"]["number"]) == (200, 1)
    request.refresh_from_db()

    assert_refused(client, request, actor="dual", rule="one_step_per_person", step=1)


def test_auditor_lacks_the_role(cast: Any, api: Any) -> None:
    client = api(cast.auditor)
    request = open_request(cast.dev_a, cast.version_a)

    assert_refused(client, request, actor="auditor", rule="missing_role", step=1)


def test_validator_lacks_the_role_of_the_compliance_step(cast: Any, api: Any) -> None:
    client = api(cast.validator2)
    request = decide(open_request(cast.dev_a, cast.version_m), cast.validator)
    assert request.current_step == 1

    assert_refused(client, request, actor="validator-2", rule="missing_role", step=2)


def test_validator_without_the_approve_permission_on_the_model(cast: Any, api: Any) -> None:
    client = api(cast.validator)
    request = open_request(cast.dev_a, cast.version_a)
    remove_perm("registry.approve", Group.objects.get(name="validator"), cast.model_a)
    # A validator who may still view the model: the only thing missing is the approve permission.
    assign_perm("registry.view_registeredmodel", cast.validator, cast.model_a)

    assert_refused(client, request, actor="validator", rule="missing_approve_permission", step=1)
