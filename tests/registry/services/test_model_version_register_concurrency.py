"""Version numbering under real concurrency: several OS processes, each with its own database
connection, register versions of one model at the same moment."""

import multiprocessing
import os
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from governance.models import AuditEntry
from registry.errors import DuplicateArtifact
from registry.models import ModelVersion, RegisteredModel
from registry.services import model_version_register
from tests.factories import GroupFactory, RegisteredModelFactory, UserFactory, make_manifest, team_key, version_payload

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PROCESSES = 6
PER_PROCESS = 5
EXIT_DUPLICATE = 3


def _register_many(model_pk: int, actor_pk: int, worker: int, barrier: Any) -> None:
    """Runs in a forked child: waits for the others, registers PER_PROCESS versions, exits."""
    try:
        model = RegisteredModel.objects.get(pk=model_pk)
        actor = get_user_model().objects.get(pk=actor_pk)
        barrier.wait(timeout=60)
        for index in range(PER_PROCESS):
            payload = version_payload(model=model, manifest=make_manifest(f"race-{worker}-{index}"))
            model_version_register(
                actor=actor,
                model=model,
                **{**payload, "artifact_uri": f"s3://race/{worker}/{index}", "training_run_id": f"worker-{worker}"},
            )
    finally:
        connections.close_all()


def _register_same(model_pk: int, actor_pk: int, barrier: Any) -> None:
    try:
        model = RegisteredModel.objects.get(pk=model_pk)
        actor = get_user_model().objects.get(pk=actor_pk)
        barrier.wait(timeout=60)
        try:
            model_version_register(
                actor=actor, model=model, **version_payload(model=model, manifest=make_manifest("same"))
            )
        except DuplicateArtifact:
            connections.close_all()
            os._exit(EXIT_DUPLICATE)
    finally:
        connections.close_all()


def _run(target: Any, args_for: Any, count: int) -> list[int | None]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count)
    # A forked child must not share the parent's socket to PostgreSQL.
    connections.close_all()
    processes = [context.Process(target=target, args=(*args_for(worker), barrier)) for worker in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    for process in processes:
        if process.is_alive():
            process.kill()
    return [process.exitcode for process in processes]


@pytest.fixture
def race_model() -> tuple[RegisteredModel, Any]:
    team = GroupFactory(name="race-team")
    pipeline = UserFactory(username="race-ci", groups=[team])
    model = RegisteredModelFactory(name="race-model", team=team, owner=UserFactory(username="race-owner"))
    team_key(team)  # registered before the fork: the children inherit its private half
    return model, pipeline


def test_concurrent_registrations_get_contiguous_numbers(race_model):
    model, pipeline = race_model

    exit_codes = _run(_register_many, lambda worker: (model.pk, pipeline.pk, worker), PROCESSES)

    assert exit_codes == [0] * PROCESSES
    total = PROCESSES * PER_PROCESS
    numbers = list(ModelVersion.objects.filter(model=model).order_by("version").values_list("version", flat=True))
    assert numbers == list(range(1, total + 1))
    assert ModelVersion.objects.filter(model=model).values("artifact_digest").distinct().count() == total
    entries = AuditEntry.objects.filter(event_type="MODEL_VERSION_REGISTERED", model_name="race-model")
    assert entries.count() == total
    assert sorted(entry.after["version"] for entry in entries) == list(range(1, total + 1))
    by_version = {v.version: (v.artifact_uri, str(v.pk)) for v in ModelVersion.objects.filter(model=model)}
    for entry in entries:
        assert (entry.after["artifact_uri"], entry.subject_id) == by_version[entry.after["version"]]
    for worker in range(PROCESSES):
        own = ModelVersion.objects.filter(model=model, training_run_id=f"worker-{worker}").order_by("version")
        # Each worker's own registrations are numbered in the order it made them.
        assert [v.artifact_uri for v in own] == [f"s3://race/{worker}/{index}" for index in range(PER_PROCESS)]


def test_concurrent_registrations_of_one_artifact_yield_one_version(race_model):
    model, pipeline = race_model

    exit_codes = _run(_register_same, lambda worker: (model.pk, pipeline.pk), 4)

    assert sorted(exit_codes) == [0, EXIT_DUPLICATE, EXIT_DUPLICATE, EXIT_DUPLICATE]
    assert list(ModelVersion.objects.filter(model=model).values_list("version", flat=True)) == [1]
    assert AuditEntry.objects.filter(event_type="MODEL_VERSION_REGISTERED", model_name="race-model").count() == 1
