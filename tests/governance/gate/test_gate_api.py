"""The answer of POST /api/v1/gate/promotions, and the requests it refuses without writing anything."""

import json
import uuid

import pytest

from governance.models import AuditLeaf, GateDecision
from tests.conftest import client_for

from .support import BUILTIN_NAMES, GATE_URL, OTHER_DIGEST, gate_body, gate_entry, snapshot

ANSWER_KEYS = {"decision", "decision_id", "checks", "policy_version", "audit_seq", "promoted", "dry_run", "envelope"}


def test_an_allow_answers_every_field(world, approved):
    response = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1), format="json")

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert answer["decision"] == "allow"
    assert str(uuid.UUID(answer["decision_id"])) == answer["decision_id"]
    assert [check["name"] for check in answer["checks"]] == BUILTIN_NAMES
    assert all(set(check) == {"name", "outcome", "reason", "details"} for check in answer["checks"])
    assert [check["outcome"] for check in answer["checks"]] == ["pass"] * 4
    assert answer["policy_version"] == approved.policy.version == 1
    assert type(answer["audit_seq"]) is int
    assert answer["audit_seq"] == AuditLeaf.objects.get(entry=gate_entry(answer["decision_id"])).seq
    assert (answer["promoted"], answer["dry_run"]) == (False, False)
    assert set(answer["envelope"]) == {"payloadType", "payload", "signatures"}
    assert answer["envelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert GateDecision.objects.get().pk == uuid.UUID(answer["decision_id"])


def test_a_deny_is_a_200_with_decision_deny(world, approved):
    response = client_for(world.ci_b).post(
        GATE_URL, gate_body(world.version_b1, artifact_digest=OTHER_DIGEST), format="json"
    )

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert answer["decision"] == "deny"
    assert [(check["name"], check["outcome"]) for check in answer["checks"]] == [
        ("signature_valid", "pass"),
        ("digest_matches", "fail"),
        ("signing_key_active", "pass"),
        ("approvals_complete", "pass"),
    ]
    assert answer["audit_seq"] == AuditLeaf.objects.get(entry=gate_entry(answer["decision_id"])).seq
    assert GateDecision.objects.get().decision == "deny"


def test_a_pipeline_is_recorded_with_the_decision(world, approved):
    pipeline = {
        "system": "github-actions",
        "run_id": "4242",
        "url": "https://ci.example.org/runs/4242",
        "commit": "0123abcd",
        "metadata": {"change_ticket": "CHG-1234"},
    }

    answer = client_for(world.ci_b).post(GATE_URL, gate_body(world.version_b1, pipeline=pipeline), format="json").json()

    assert GateDecision.objects.get().pipeline == pipeline
    assert gate_entry(answer["decision_id"]).after["pipeline"] == pipeline


REFUSALS = [
    pytest.param(
        "ci_b",
        {"force": True},
        400,
        "unknown_field",
        {"fields": {"unknown_fields": ["force"]}},
        id="unknown-field",
    ),
    pytest.param(
        "ci_b",
        {"pipeline": {"branch": "main"}},
        400,
        "unknown_field",
        {"fields": {"pipeline": {"unknown_fields": ["branch"]}}},
        id="unknown-pipeline-field",
    ),
    pytest.param(
        "ci_b",
        {"artifact_digest": "sha256:XYZ"},
        400,
        "validation_error",
        {"fields": {"artifact_digest": ["This value does not match the required pattern."]}},
        id="bad-digest",
    ),
    pytest.param(
        "ci_b",
        {"artifact_digest": "ab" * 32},
        400,
        "validation_error",
        {"fields": {"artifact_digest": ["This value does not match the required pattern."]}},
        id="digest-without-algorithm",
    ),
    pytest.param(
        "ci_b",
        {"pipeline": {"metadata": {"change_ticket": "CHG-1\x00"}}},
        400,
        "validation_error",
        {"fields": {"pipeline": {"metadata": ["Null characters are not allowed."]}}},
        id="nul-in-pipeline-metadata",
    ),
    pytest.param(
        "ci_b",
        {"pipeline": {"metadata": {"change_ticket": "CHG-\ud83d"}}},
        400,
        "validation_error",
        {"fields": {"pipeline": {"metadata": ["Unpaired surrogate characters are not allowed."]}}},
        id="lone-surrogate-in-pipeline-metadata",
    ),
    pytest.param(
        "ci_b",
        {"pipeline": {"metadata": {"ticket\udc00": "CHG-1"}}},
        400,
        "validation_error",
        {"fields": {"pipeline": {"metadata": ["Unpaired surrogate characters are not allowed."]}}},
        id="lone-surrogate-in-a-metadata-key",
    ),
    pytest.param(
        "ci_b",
        {"version": 2**31},
        400,
        "validation_error",
        {"fields": {"version": ["Ensure this value is less than or equal to 2147483647."]}},
        id="version-past-the-integer-column",
    ),
    pytest.param(
        "ci_b",
        {"nonce": "has space"},
        400,
        "validation_error",
        {"fields": {"nonce": ["This value does not match the required pattern."]}},
        id="nonce-outside-its-alphabet",
    ),
    pytest.param(
        "ci_b",
        {"nonce": "n" * 129},
        400,
        "validation_error",
        {"fields": {"nonce": ["This value does not match the required pattern."]}},
        id="nonce-too-long",
    ),
    pytest.param(
        "ci_b",
        {"model": "no-such-model"},
        404,
        "model_not_found",
        {"model": "no-such-model"},
        id="unknown-model",
    ),
    pytest.param(
        "ci_b",
        {"version": 9},
        404,
        "model_version_not_found",
        {"model": "model-b", "version": 9},
        id="unknown-version",
    ),
    pytest.param(
        "ci_b",
        {"target_stage": "archived"},
        400,
        "invalid_stage",
        {"target_stage": "archived"},
        id="bad-stage",
    ),
    pytest.param(
        "ci_a",
        {},
        404,
        "model_not_found",
        {"model": "model-b"},
        id="another-teams-token",
    ),
    pytest.param(
        "auditor",
        {},
        403,
        "permission_denied",
        {"model": "model-b", "permission": "request_promotion"},
        id="auditor",
    ),
    pytest.param(
        "auditor",
        {"promote": True},
        403,
        "permission_denied",
        {"model": "model-b", "permission": "request_promotion"},
        id="auditor-promoting",
    ),
    pytest.param(
        "ci_b",
        {"target_stage": "archived", "promote": True},
        400,
        "invalid_stage",
        {"target_stage": "archived"},
        id="bad-stage-promoting",
    ),
    pytest.param(
        "ci_b",
        {"x\ud800": 1},
        400,
        "unknown_field",
        {"fields": {"unknown_fields": ["x\\ud800"]}},
        id="lone-surrogate-in-an-unknown-field-name",
    ),
]


@pytest.mark.parametrize(("who", "change", "status", "code", "extra"), REFUSALS)
def test_a_refused_request_writes_nothing(world, approved, who, change, status, code, extra):
    client = client_for(getattr(world, who))
    body = {**gate_body(world.version_b1), **change}
    before = snapshot()

    # json.dumps escapes a lone surrogate (\ud83d), as a client in another language would send it.
    response = client.post(GATE_URL, json.dumps(body), content_type="application/json")

    assert (response.status_code, response.json()["code"], response.json()["extra"]) == (status, code, extra)
    assert snapshot() == before


def test_a_lone_surrogate_is_refused_with_drfs_message_and_writes_nothing(world, approved):
    """Character fields use our regular-expression form of DRF's surrogate check: same message and code."""
    client = client_for(world.ci_b)
    body = gate_body(world.version_b1, pipeline={"system": "github-actions", "run_id": "run-\ud83d"})
    before = snapshot()

    response = client.post(GATE_URL, json.dumps(body), content_type="application/json")

    assert (response.status_code, response.json()["code"], response.json()["extra"]) == (
        400,
        "validation_error",
        {"fields": {"pipeline": {"run_id": ["Surrogate characters are not allowed: U+D83D."]}}},
    )
    assert snapshot() == before


def test_an_anonymous_request_writes_nothing(world, approved):
    before = snapshot()

    response = client_for(None).post(GATE_URL, gate_body(world.version_b1), format="json")

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert snapshot() == before


def test_one_input_serializer_serves_every_request_without_carrying_anything_over(world, approved):
    """The view validates with one GateInput made at import: a refused body leaves nothing behind for
    the next request, and a pipeline given once is not remembered when the next body has none."""
    client = client_for(world.ci_b)
    with_pipeline = gate_body(world.version_b1, pipeline={"system": "gitlab", "metadata": {"ticket": "T-1"}})

    refused = client.post(GATE_URL, {**gate_body(world.version_b1), "force": True}, format="json")
    first = client.post(GATE_URL, with_pipeline, format="json")
    second = client.post(GATE_URL, gate_body(world.version_b1), format="json")
    refused_again = client.post(GATE_URL, {**gate_body(world.version_b1), "version": "x"}, format="json")

    assert (refused.status_code, refused.json()["code"]) == (400, "unknown_field")
    assert refused.json()["extra"] == {"fields": {"unknown_fields": ["force"]}}
    assert (first.status_code, second.status_code) == (200, 200)
    pipelines = {row.pk: row.pipeline for row in GateDecision.objects.all()}
    assert pipelines[uuid.UUID(first.json()["decision_id"])] == {
        "system": "gitlab",
        "run_id": "",
        "url": "",
        "commit": "",
        "metadata": {"ticket": "T-1"},
    }
    assert pipelines[uuid.UUID(second.json()["decision_id"])] == {
        "system": "",
        "run_id": "",
        "url": "",
        "commit": "",
        "metadata": {},
    }
    assert (refused_again.status_code, refused_again.json()["code"]) == (400, "validation_error")
    assert refused_again.json()["extra"] == {"fields": {"version": ["A valid integer is required."]}}
    assert len(pipelines) == 2
