"""``dry_run`` and ``promote``: a dry run is logged and moves nothing; ``promote`` on an allow moves
the version (archiving the one in production), on a deny it moves nothing."""

from typing import Any

from governance.models import AuditEntry, GateDecision
from registry.models import ModelVersion
from tests.conftest import client_for
from tests.factories import approve_promotion, make_version

from .support import GATE_URL, OTHER_DIGEST, audit_mark, events_since, expected_gate_after, gate_body, gate_entry


def ask(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(GATE_URL, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def stage_of(version: ModelVersion) -> str:
    return ModelVersion.objects.values_list("stage", flat=True).get(pk=version.pk)


def promoted_entries(version: ModelVersion) -> list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]]:
    return [
        (entry.actor_name, entry.model_name, entry.before, entry.after)
        for entry in AuditEntry.objects.filter(
            event_type="MODEL_VERSION_PROMOTED", subject_id=str(version.pk)
        ).order_by("id")
    ]


def test_a_dry_run_is_logged_and_promotes_nothing(world, approved):
    ci_b = client_for(world.ci_b)
    version = world.version_b1
    mark = audit_mark()

    answer = ask(ci_b, gate_body(version, dry_run=True, promote=True))

    assert (answer["decision"], answer["dry_run"], answer["promoted"]) == ("allow", True, False)
    row = GateDecision.objects.get()
    assert (row.dry_run, row.promoted) == (True, False)
    assert events_since(mark) == ["GATE_DECIDED"]
    assert gate_entry(row.pk).after == expected_gate_after(
        version, decision="allow", failed=[], envelope_sha256=row.envelope_sha256, dry_run=True
    )
    assert stage_of(version) == "none"


def test_without_promote_an_allow_moves_nothing(world, approved):
    ci_b = client_for(world.ci_b)
    mark = audit_mark()

    answer = ask(ci_b, gate_body(world.version_b1))

    assert (answer["decision"], answer["promoted"]) == ("allow", False)
    assert events_since(mark) == ["GATE_DECIDED"]
    assert stage_of(world.version_b1) == "none"


def test_promote_on_an_allow_moves_the_version_and_archives_the_one_in_production(world, approved):
    ci_b = client_for(world.ci_b)
    v1 = world.version_b1
    first = ask(ci_b, gate_body(v1, promote=True))
    assert (first["decision"], first["promoted"]) == ("allow", True)
    assert stage_of(v1) == "production"
    assert promoted_entries(v1) == [
        (
            "ci-b",
            "model-b",
            {"stage": "none"},
            {"stage": "production", "archived_versions": [], "artifact_digest": v1.artifact_digest},
        )
    ]
    v2 = make_version(model=world.model_b, actor=world.ci_b, seed="b2")
    approve_promotion(version=v2, stage="production", requester=world.ci_b, approvers=[world.validator])
    mark = audit_mark()

    second = ask(ci_b, gate_body(v2, promote=True))

    assert (second["decision"], second["promoted"]) == ("allow", True)
    assert GateDecision.objects.get(pk=second["decision_id"]).promoted is True
    assert (stage_of(v1), stage_of(v2)) == ("archived", "production")
    assert events_since(mark) == ["GATE_DECIDED", "MODEL_VERSION_PROMOTED"]
    assert promoted_entries(v2) == [
        (
            "ci-b",
            "model-b",
            {"stage": "none"},
            {"stage": "production", "archived_versions": [1], "artifact_digest": v2.artifact_digest},
        )
    ]


def test_promote_to_staging_leaves_production_alone(world):
    ci_b = client_for(world.ci_b)
    v1 = world.version_b1
    approve_promotion(version=v1, stage="production", requester=world.ci_b, approvers=[world.validator])
    assert ask(ci_b, gate_body(v1, promote=True))["promoted"] is True
    v2 = make_version(model=world.model_b, actor=world.ci_b, seed="b2")
    approve_promotion(version=v2, stage="staging", requester=world.ci_b, approvers=[world.validator])

    answer = ask(ci_b, gate_body(v2, stage="staging", promote=True))

    assert (answer["decision"], answer["promoted"]) == ("allow", True)
    assert (stage_of(v1), stage_of(v2)) == ("production", "staging")
    assert promoted_entries(v2) == [
        (
            "ci-b",
            "model-b",
            {"stage": "none"},
            {"stage": "staging", "archived_versions": [], "artifact_digest": v2.artifact_digest},
        )
    ]


def test_promote_on_a_deny_moves_nothing(world, approved):
    ci_b = client_for(world.ci_b)
    mark = audit_mark()

    answer = ask(ci_b, gate_body(world.version_b1, artifact_digest=OTHER_DIGEST, promote=True))

    assert (answer["decision"], answer["promoted"]) == ("deny", False)
    assert GateDecision.objects.get().promoted is False
    assert events_since(mark) == ["GATE_DECIDED"]
    assert stage_of(world.version_b1) == "none"
    assert promoted_entries(world.version_b1) == []
