"""A registered version's identity never changes and a version is never deleted, whoever asks the
database; its stage may change. Constraints hold against raw SQL too."""

import json

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction

from registry.models import ModelVersion

INSUFFICIENT_PRIVILEGE = "42501"
IMMUTABLE = "modelgov: a registered version's manifest, digest, number and creator never change"


def version_rows():
    return list(ModelVersion.objects.order_by("pk").values())


def execute_refused(error, sql, params=None, *, setup=()):
    with pytest.raises(error) as raised, transaction.atomic(), connection.cursor() as cursor:
        for statement in setup:
            cursor.execute(statement)
        cursor.execute(sql, params)
    return raised.value


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("manifest", '{"resources": []}'),
        ("artifact_digest", "sha256:" + "0" * 64),
        ("created_by_id", "officer"),
        ("version", "7"),
        ("model_id", "model-b"),
        ("producer_signature", '{"payload": "forged"}'),
        ("signing_key_id", "team-b key"),
        ("countersignature", '{"payload": "forged"}'),
        ("countersignature_sha256", "0" * 64),
    ],
)
def test_raw_update_of_identity_columns_is_refused(world, column, value):
    value = {
        "officer": world.officer.pk,
        "model-b": world.model_b.pk,
        "team-b key": world.version_b1.signing_key_id,
    }.get(value, value)
    before = version_rows()

    error = execute_refused(
        ProgrammingError,
        f"UPDATE registry_modelversion SET {column} = %s WHERE id = %s",
        [value, world.version_a1.pk],
    )

    assert error.__cause__.pgcode == INSUFFICIENT_PRIVILEGE
    assert str(error).startswith(IMMUTABLE)
    assert version_rows() == before


def test_raw_update_of_stage_is_allowed(world):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_modelversion SET stage = 'production' WHERE id = %s", [world.version_a1.pk])

    assert ModelVersion.objects.get(pk=world.version_a1.pk).stage == "production"
    assert ModelVersion.objects.get(pk=world.version_b1.pk).stage == "none"


def test_rewriting_identical_values_is_allowed(world):
    version = ModelVersion.objects.get(pk=world.version_a1.pk)
    before = version_rows()

    version.save()

    assert version_rows() == before


def test_orm_update_of_identity_is_refused(world):
    before = version_rows()

    with pytest.raises(ProgrammingError), transaction.atomic():
        ModelVersion.objects.filter(pk=world.version_a1.pk).update(artifact_uri="s3://moved", version=9)

    assert version_rows() == before


@pytest.mark.parametrize(
    "sql", ["DELETE FROM registry_modelversion WHERE id = %s", "DELETE FROM registry_modelversion WHERE id >= %s"]
)
def test_delete_is_refused(world, sql):
    before = version_rows()

    error = execute_refused(ProgrammingError, sql, [min(row["id"] for row in before)])

    assert error.__cause__.pgcode == INSUFFICIENT_PRIVILEGE
    assert str(error).startswith("modelgov: a registered model version is never deleted")
    assert version_rows() == before


def test_replica_session_role_does_not_switch_the_trigger_off(world):
    before = version_rows()

    error = execute_refused(
        ProgrammingError,
        "UPDATE registry_modelversion SET artifact_digest = %s WHERE id = %s",
        ["sha256:" + "1" * 64, world.version_a1.pk],
        setup=["SET LOCAL session_replication_role = replica"],
    )

    assert str(error).startswith(IMMUTABLE)
    assert version_rows() == before


def test_trigger_is_enabled_always(db):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relname = 'registry_modelversion' AND NOT t.tgisinternal
            """
        )
        assert cursor.fetchall() == [("registry_modelversion_immutable", "A")]


def _raw_copy_of_version_one(world, **overrides):
    """Version 1 of model-a as an INSERT statement (JSON columns as text), with ``overrides``."""
    row = ModelVersion.objects.filter(pk=world.version_a1.pk).values().get()
    row.pop("id")
    for column in ("manifest", "metrics", "parameters", "producer_signature", "countersignature"):
        row[column] = json.dumps(row[column])
    row.update(version=2, artifact_digest="sha256:" + "e" * 64)
    row.update(overrides)
    sql = f"INSERT INTO registry_modelversion ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})"
    return sql, list(row.values())


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"version": 1}, "modelversion_unique_number"),
        ({"artifact_digest": "copy"}, "modelversion_unique_digest"),
        ({"version": 0}, "modelversion_number_positive"),
        ({"artifact_digest": "md5:abc"}, "modelversion_digest_format"),
        ({"artifact_digest": "sha256:" + "E" * 64}, "modelversion_digest_format"),
        ({"stage": "canary"}, "modelversion_stage_valid"),
    ],
)
def test_version_constraints_hold_against_raw_inserts(world, overrides, constraint):
    if overrides.get("artifact_digest") == "copy":
        overrides = {"artifact_digest": world.version_a1.artifact_digest}
    sql, params = _raw_copy_of_version_one(world, **overrides)
    before = version_rows()

    error = execute_refused(IntegrityError, sql, params)

    assert error.__cause__.diag.constraint_name == constraint
    assert version_rows() == before


def test_a_raw_copy_with_a_new_number_and_digest_is_accepted(world):
    # The control for the test above: only the overridden column makes those inserts fail.
    sql, params = _raw_copy_of_version_one(world)

    with connection.cursor() as cursor:
        cursor.execute(sql, params)

    assert sorted(ModelVersion.objects.filter(model=world.model_a).values_list("version", flat=True)) == [1, 2]
