"""/api/v1/models/{name}/versions/: registering (producer-signed), listing and retrieving versions."""

import hashlib

import pytest

from core.canonical import canonical_json
from registry.models import ModelVersion
from registry.services import registered_model_update
from registry.signing import verify_countersignature
from tests.factories import make_manifest, make_model, make_version, manifest_digest, seed_admin, version_payload
from tests.helpers import assert_audited, audit_entries_after, iso_z, last_audit_id, nothing_written


@pytest.fixture
def fresh(world):
    """model-f of team-a with no versions yet."""
    return make_model(owner=world.owner_a, team=world.team_a, name="model-f")


def post_version(client, model, signed, **fields):
    """POST a version whose signature covers ``signed``; ``fields`` go into the body beside it."""
    body = {**version_payload(model=model, manifest=signed), **fields}
    return client.post(f"/api/v1/models/{model.name}/versions/", body, format="json")


def test_register_a_version(world, api, fresh):
    client = api(world.ci_a)
    manifest = make_manifest("f1", files=3)
    payload = version_payload(
        model=fresh,
        manifest=manifest,
        artifact_uri="s3://models/model-f/1",
        metrics={"auc": 0.91, "n": 1200},
        parameters={"max_depth": 6},
        training_run_id="run-2024-001",
    )
    last = last_audit_id()

    response = client.post("/api/v1/models/model-f/versions/", payload, format="json")

    assert response.status_code == 201, response.json()
    version = ModelVersion.objects.select_related("signing_key").get(model=fresh, version=1)
    digest = manifest_digest(manifest)
    assert response.json() == {
        "model": "model-f",
        "version": 1,
        "artifact_uri": "s3://models/model-f/1",
        "artifact_digest": digest,
        "manifest": manifest,
        "metrics": {"auc": 0.91, "n": 1200},
        "parameters": {"max_depth": 6},
        "training_run_id": "run-2024-001",
        "stage": "none",
        "signing_key": payload["signing_key"],
        "producer_signature": payload["signature"],
        "countersignature": version.countersignature,
        "countersignature_sha256": version.countersignature_sha256,
        "created_by": "ci-a",
        "created_at": iso_z(version.created_at),
    }
    assert (version.created_by, version.signing_key.fingerprint) == (world.ci_a, payload["signing_key"])
    record = {
        "model": "model-f",
        "version": 1,
        "artifact_uri": "s3://models/model-f/1",
        "artifact_digest": digest,
        "manifest_sha256": hashlib.sha256(canonical_json(manifest)).hexdigest(),
        "producer_key": payload["signing_key"],
        "producer_signature_sha256": hashlib.sha256(canonical_json(payload["signature"])).hexdigest(),
        "training_run_id": "run-2024-001",
        "metrics": {"auc": 0.91, "n": 1200},
        "parameters": {"max_depth": 6},
        "created_by": "ci-a",
        "created_at": iso_z(version.created_at),
    }
    [entry] = audit_entries_after(last)
    assert entry.event_type == "MODEL_VERSION_REGISTERED"
    assert (entry.actor_id, entry.actor_name) == (world.ci_a.pk, "ci-a")
    assert (entry.subject_type, entry.subject_id, entry.subject_repr) == (
        "registry.ModelVersion",
        str(version.pk),
        "model-f v1",
    )
    assert entry.model_name == "model-f"
    assert entry.before is None
    assert entry.after == {**record, "resources": 3, "countersignature_sha256": version.countersignature_sha256}
    # The service's countersignature signs exactly the logged record.
    assert verify_countersignature(version.countersignature)["predicate"] == record
    assert version.countersignature_sha256 == hashlib.sha256(canonical_json(version.countersignature)).hexdigest()


def test_versions_are_numbered_one_two_three(world, api, fresh):
    client = api(world.ci_a)
    last = last_audit_id()

    numbers = [post_version(client, fresh, make_manifest(f"n{i}")).json()["version"] for i in range(3)]

    assert numbers == [1, 2, 3]
    versions = ModelVersion.objects.filter(model=fresh).order_by("version")
    assert list(versions.values_list("version", flat=True)) == [1, 2, 3]
    entries = assert_audited(last, *[("MODEL_VERSION_REGISTERED", "ci-a", "model-f")] * 3)
    assert [entry.after["version"] for entry in entries] == [1, 2, 3]


def test_numbering_is_per_model(world, api):
    client = api(world.ci_b)
    last = last_audit_id()

    response = client.post(
        "/api/v1/models/model-b/versions",
        version_payload(model=world.model_b, manifest=make_manifest("b2")),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["version"] == 2
    [entry] = assert_audited(last, ("MODEL_VERSION_REGISTERED", "ci-b", "model-b"))
    assert entry.after["version"] == 2


def test_resources_are_stored_in_name_order(world, api, fresh):
    manifest = {
        "resources": [
            {"name": "weights/z.bin", "algorithm": "sha256", "digest": "b" * 64},
            {"name": "config.json", "algorithm": "sha256", "digest": "a" * 64},
        ]
    }

    client = api(world.ci_a)
    last = last_audit_id()

    response = post_version(client, fresh, manifest, manifest=manifest)

    assert response.status_code == 201, response.json()
    [entry] = assert_audited(last, ("MODEL_VERSION_REGISTERED", "ci-a", "model-f"))
    assert entry.after["resources"] == 2
    assert [item["name"] for item in response.json()["manifest"]["resources"]] == ["config.json", "weights/z.bin"]
    assert ModelVersion.objects.get(model=fresh).manifest == {
        "resources": [manifest["resources"][1], manifest["resources"][0]]
    }


def test_artifact_digest_when_given_must_be_the_root_digest(world, api, fresh):
    manifest = make_manifest("digest-ok")
    digest = manifest_digest(manifest)
    client = api(world.ci_a)
    last = last_audit_id()

    response = post_version(client, fresh, manifest, artifact_digest=digest)

    assert response.status_code == 201
    assert response.json()["artifact_digest"] == digest
    [entry] = assert_audited(last, ("MODEL_VERSION_REGISTERED", "ci-a", "model-f"))
    assert entry.after["artifact_digest"] == digest


def test_digest_mismatch_writes_nothing(world, api, fresh):
    manifest = make_manifest("digest-bad")
    client = api(world.ci_a)
    wrong = "sha256:" + "0" * 64

    with nothing_written():
        response = post_version(client, fresh, manifest, artifact_digest=wrong)

    assert response.status_code == 400
    assert response.json() == {
        "code": "digest_mismatch",
        "message": "The artifact digest is not the manifest's root digest.",
        "extra": {"given": wrong, "computed": manifest_digest(manifest)},
    }


def test_artifact_digest_must_be_well_formed(world, api, fresh):
    client = api(world.ci_a)

    with nothing_written():
        response = post_version(client, fresh, make_manifest("x"), artifact_digest="md5:abc")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["extra"]["fields"]) == ["artifact_digest"]


def test_manifest_given_beside_the_signature_must_be_the_signed_one(world, api, fresh):
    client = api(world.ci_a)

    with nothing_written():
        response = post_version(client, fresh, make_manifest("signed"), manifest=make_manifest("other"))

    assert response.status_code == 400
    assert response.json()["code"] == "manifest_mismatch"


@pytest.mark.parametrize("reorder", [False, True])
def test_same_artifact_twice_is_a_conflict(world, api, reorder):
    manifest = make_manifest("a1")  # version 1 of model-a
    if reorder:
        manifest = {"resources": list(reversed(manifest["resources"]))}
    client = api(world.ci_a)

    with nothing_written():
        response = post_version(client, world.model_a, manifest, artifact_uri="s3://again")

    assert response.status_code == 409
    assert response.json() == {
        "code": "duplicate_artifact",
        "message": "This artifact is already registered for model 'model-a'.",
        "extra": {"model": "model-a", "artifact_digest": world.version_a1.artifact_digest},
    }


def test_same_artifact_may_be_a_version_of_another_model(world, api, fresh):
    client = api(world.ci_a)
    last = last_audit_id()

    response = post_version(client, fresh, make_manifest("a1"))

    assert response.status_code == 201
    assert response.json()["artifact_digest"] == world.version_a1.artifact_digest
    [entry] = assert_audited(last, ("MODEL_VERSION_REGISTERED", "ci-a", "model-f"))
    assert entry.after["artifact_digest"] == world.version_a1.artifact_digest


def test_retired_model_takes_no_versions(world, api):
    registered_model_update(actor=seed_admin(), model=world.model_a, changes={"status": "retired"})
    client = api(world.ci_a)

    with nothing_written():
        response = post_version(client, world.model_a, make_manifest("r"))

    assert response.status_code == 409
    assert response.json() == {
        "code": "model_retired",
        "message": "Model 'model-a' is retired.",
        "extra": {"model": "model-a"},
    }


@pytest.mark.parametrize("path", ["/api/v1/models/model-a/versions/", "/api/v1/models/model-a/versions"])
def test_list_versions_newest_first(world, api, path):
    v2 = make_version(model=world.model_a, actor=world.ci_a, seed="a2", metrics={"auc": 0.8})
    v3 = make_version(model=world.model_a, actor=world.owner_a, seed="a3")

    response = api(world.auditor).get(path)

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert [(item["version"], item["created_by"]) for item in body["results"]] == [
        (3, "owner-a"),
        (2, "ci-a"),
        (1, "ci-a"),
    ]
    assert body["results"][1] == {
        "model": "model-a",
        "version": 2,
        "artifact_uri": v2.artifact_uri,
        "artifact_digest": v2.artifact_digest,
        "manifest": make_manifest("a2"),
        "metrics": {"auc": 0.8},
        "parameters": {},
        "training_run_id": "",
        "stage": "none",
        "signing_key": v2.signing_key.fingerprint,
        "producer_signature": v2.producer_signature,
        "countersignature": v2.countersignature,
        "countersignature_sha256": v2.countersignature_sha256,
        "created_by": "ci-a",
        "created_at": iso_z(v2.created_at),
    }
    assert body["results"][0]["artifact_digest"] == v3.artifact_digest


def test_versions_list_is_paginated(world, api):
    for seed in ("a2", "a3"):
        make_version(model=world.model_a, actor=world.ci_a, seed=seed)

    response = api(world.ci_a).get("/api/v1/models/model-a/versions/?page_size=2")

    body = response.json()
    assert body["count"] == 3
    assert [item["version"] for item in body["results"]] == [3, 2]
    assert body["next"] == "http://testserver/api/v1/models/model-a/versions/?page=2&page_size=2"


@pytest.mark.parametrize("path", ["/api/v1/models/model-a/versions/1", "/api/v1/models/model-a/versions/1/"])
def test_retrieve_a_version(world, api, path):
    response = api(world.owner_a).get(path)

    assert response.status_code == 200
    version = world.version_a1
    assert response.json() == {
        "model": "model-a",
        "version": 1,
        "artifact_uri": version.artifact_uri,
        "artifact_digest": version.artifact_digest,
        "manifest": make_manifest("a1"),
        "metrics": {},
        "parameters": {},
        "training_run_id": "",
        "stage": "none",
        "signing_key": version.signing_key.fingerprint,
        "producer_signature": version.producer_signature,
        "countersignature": version.countersignature,
        "countersignature_sha256": version.countersignature_sha256,
        "created_by": "ci-a",
        "created_at": iso_z(version.created_at),
    }


def test_unknown_version_is_model_version_not_found(world, api):
    response = api(world.owner_a).get("/api/v1/models/model-a/versions/9")

    assert response.status_code == 404
    assert response.json() == {
        "code": "model_version_not_found",
        "message": "Model 'model-a' has no version 9.",
        "extra": {"model": "model-a", "version": 9},
    }


def test_versions_of_an_unknown_model_are_model_not_found(world, api):
    client = api(world.officer)

    for path in ("/api/v1/models/nope/versions/", "/api/v1/models/nope/versions/1"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "model_not_found"
