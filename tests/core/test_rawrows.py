"""core.rawrows: the INSERT it writes (the gate's decision row, sent with its audit entry by
``audit_record(insert_subject=True)``) stores exactly what ``save(force_insert=True)`` stores, and the
instances it builds from rows equal the ORM's."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import rawrows
from governance.audit.services import audit_record
from governance.choices import AuditEvent
from governance.models import GateDecision

pytestmark = pytest.mark.django_db


def decision(world, **fields) -> GateDecision:
    values = {
        "id": uuid.uuid4(),
        "model_version": world.version_b1,
        "target_stage": "production",
        "requested_digest": world.version_b1.artifact_digest,
        "decision": "deny",
        "checks": [{"name": "digest_matches", "outcome": "fail", "reason": "digest_mismatch", "details": {"é": 1}}],
        "pipeline": {"system": "github", "run_id": "7"},
        "policy_version": None,
        "envelope": {"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []},
        "envelope_sha256": "ab" * 32,
        "dry_run": True,
        "created_by": world.ci_b,
        "created_at": datetime(2026, 12, 7, 17, 0, 0, 123456, tzinfo=UTC),
    }
    return GateDecision(**{**values, **fields})


def stored(pk) -> dict:
    row = GateDecision.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


def insert(world, row: GateDecision) -> None:
    audit_record(actor=world.ci_b, event_type=AuditEvent.GATE_DECIDED, subject=row, insert_subject=True)


def test_the_prepared_insert_stores_what_save_stores(world):
    by_orm = decision(world)
    by_orm.save(force_insert=True)
    insert(world, decision(world))  # the first in this session prepares the statement
    raw = decision(world)

    with CaptureQueriesContext(connection) as queries:
        insert(world, raw)

    assert [query["sql"].split(" ")[0] for query in queries] == ["EXECUTE"]  # row, entry and queue row
    assert stored(raw.pk) == stored(by_orm.pk)
    assert (raw._state.adding, raw._state.db) == (False, "default")
    assert GateDecision.objects.get(pk=raw.pk).checks[0]["details"] == {"é": 1}


def test_defaults_and_nulls_are_stored_as_the_orm_stores_them(world):
    by_orm = decision(world, pipeline={}, approval_request=None, policy_version=3)
    by_orm.save(force_insert=True)
    raw = decision(world, pipeline={}, approval_request=None, policy_version=3)

    insert(world, raw)

    assert stored(raw.pk) == stored(by_orm.pk)
    assert stored(raw.pk)["promoted"] is False


def test_an_instance_is_built_from_a_row_as_the_orm_builds_it(world):
    stored = decision(world)
    insert(world, stored)

    built = rawrows.instance(GateDecision, _row_of(stored.pk))
    loaded = GateDecision.objects.get(pk=stored.pk)

    names = [field.attname for field in GateDecision._meta.concrete_fields]
    assert [getattr(built, name) for name in names] == [getattr(loaded, name) for name in names]
    assert built.checks[0]["details"] == {"é": 1}  # the JSON columns went through their converters
    assert (built._state.adding, built._state.db) == (False, "default")


def test_a_row_of_another_width_is_refused(world):
    with pytest.raises(ValueError, match="GateDecision has 15 columns, not 14"):
        rawrows.instance(GateDecision, [None] * 14)


def _row_of(pk) -> tuple:
    columns = ", ".join(f"d.{connection.ops.quote_name(field.column)}" for field in GateDecision._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM governance_gatedecision d WHERE d.id = %s", [pk])
        return cursor.fetchone()


def test_a_deferred_column_is_handed_back_as_stored_and_loads_on_access(world):
    stored = decision(world)
    insert(world, stored)
    row = _row_of(stored.pk)

    built, put_aside = rawrows.instance_deferring(GateDecision, row, ("checks", "envelope"))

    loaded = GateDecision.objects.get(pk=stored.pk)
    assert built.get_deferred_fields() == {"checks", "envelope"}
    assert set(put_aside) == {"checks", "envelope"}
    assert json.loads(put_aside["checks"]) == loaded.checks  # the column's text, not yet parsed
    assert isinstance(put_aside["envelope"], str)
    assert (built.pipeline, built.requested_digest) == (loaded.pipeline, loaded.requested_digest)  # converted
    with CaptureQueriesContext(connection) as queries:
        assert built.checks == loaded.checks  # as QuerySet.defer leaves it: read when asked for
    assert len(queries) == 1


def test_deferring_a_column_the_model_lacks_is_refused(world):
    with pytest.raises(ValueError, match="GateDecision has no column 'manifest'"):
        rawrows.instance_deferring(GateDecision, [None] * 15, ("manifest",))
    with pytest.raises(ValueError, match="GateDecision has 15 columns, not 3"):
        rawrows.instance_deferring(GateDecision, [None] * 3, ("checks",))
