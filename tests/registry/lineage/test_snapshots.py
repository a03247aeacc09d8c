"""The upstream lineage of a version is frozen when it is approved for production: later events change
the live graph, never the snapshot, and the snapshot table refuses changes."""

import hashlib

import pytest
from django.db import ProgrammingError, connection, transaction

from core.canonical import canonical_json
from governance.approvals.services import approval_request_create, approval_request_decide
from registry.lineage.selectors import lineage_graph
from registry.lineage.services import lineage_event_ingest
from registry.models import LineageNode, LineageSnapshot
from tests.helpers import audit_entries_after, last_audit_id

from .support import (
    CHURN_FEATURES,
    CHURN_MV,
    JOB_CHURN_TRAIN,
    JOB_DBT,
    RUN_CHURN_TRAIN,
    RUN_DBT,
    SUBSCRIPTIONS,
    TICKETS,
    expected_edges,
    expected_nodes,
    ingest_recorded,
    node_id,
    recorded_event,
)

CHURN_UPSTREAM = {
    CHURN_MV: 0,
    RUN_CHURN_TRAIN: 1,
    JOB_CHURN_TRAIN: 2,
    CHURN_FEATURES: 2,
    RUN_DBT: 3,
    JOB_DBT: 4,
    SUBSCRIPTIONS: 4,
    TICKETS: 4,
}
CHURN_UPSTREAM_EDGES = {
    (JOB_CHURN_TRAIN, RUN_CHURN_TRAIN),
    (CHURN_FEATURES, RUN_CHURN_TRAIN),
    (RUN_CHURN_TRAIN, CHURN_MV),
    (RUN_DBT, CHURN_FEATURES),
    (JOB_DBT, RUN_DBT),
    (SUBSCRIPTIONS, RUN_DBT),
    (TICKETS, RUN_DBT),
}
PAYMENTS = ("dataset", "snowflake://acme.eu-west-1", "ANALYTICS.STAGING.STG_PAYMENTS")


def approve(world, version, stage):
    """Request promotion as the team's CI user; the low-risk policy needs one validator outside the team."""
    request = approval_request_create(actor=world.ci_b, model_version=version, target_stage=stage)
    return approval_request_decide(actor=world.validator, request=request, decision="approve", comment="ok")


def later_event_with_a_new_source():
    """The dbt model rebuilt the next day from one more staging table."""
    event = recorded_event("dbt_churn_features_complete.json")
    event["eventTime"] = "2026-11-04T06:30:00.000Z"
    event["run"]["runId"] = "0192ab00-7d10-7c2e-8a51-33c0de9f0a78"
    event["inputs"].append({"namespace": PAYMENTS[1], "name": PAYMENTS[2]})
    return event


def test_approval_for_production_freezes_the_upstream_lineage(world):
    ingest_recorded(world.ci_b, "dbt_churn_features_complete.json", "airflow_churn_train_complete.json")
    last = last_audit_id()

    request = approve(world, world.churn_v1, "production")

    assert request.state == "approved"
    snapshot = LineageSnapshot.objects.get()
    assert (snapshot.model_version, snapshot.approval_request_id) == (world.churn_v1, request.pk)
    assert snapshot.graph == {
        "model": "churn-propensity",
        "version": 1,
        "artifact_digest": world.churn_v1.artifact_digest,
        "nodes": expected_nodes(CHURN_UPSTREAM),
        "edges": expected_edges(CHURN_UPSTREAM_EDGES),
        "truncated": False,
    }
    assert snapshot.sha256 == hashlib.sha256(canonical_json(snapshot.graph)).hexdigest()
    [entry] = [item for item in audit_entries_after(last) if item.event_type == "LINEAGE_SNAPSHOT_TAKEN"]
    assert (entry.actor_id, entry.actor_name) == (world.validator.pk, "validator")
    assert (entry.subject_type, entry.subject_id) == ("registry.LineageSnapshot", str(snapshot.pk))
    assert entry.model_name == "churn-propensity"
    assert entry.after == {"sha256": snapshot.sha256, "nodes": 8, "edges": 7, "approval": request.pk}
    # Logged after the approval itself, in the same transaction.
    events = [item.event_type for item in audit_entries_after(last)]
    assert events.index("LINEAGE_SNAPSHOT_TAKEN") > events.index("APPROVAL_STEP_DECIDED")


def test_approval_for_staging_freezes_nothing(world):
    ingest_recorded(world.ci_b, "airflow_churn_train_complete.json")
    last = last_audit_id()

    request = approve(world, world.churn_v1, "staging")

    assert request.state == "approved"
    assert LineageSnapshot.objects.count() == 0
    assert "LINEAGE_SNAPSHOT_TAKEN" not in [item.event_type for item in audit_entries_after(last)]


def test_later_events_change_the_graph_not_the_snapshot(world):
    ingest_recorded(world.ci_b, "dbt_churn_features_complete.json", "airflow_churn_train_complete.json")
    approve(world, world.churn_v1, "production")
    frozen = LineageSnapshot.objects.values().get()

    lineage_event_ingest(actor=world.ci_b, payload=later_event_with_a_new_source())

    assert LineageSnapshot.objects.values().get() == frozen
    live = lineage_graph(node=LineageNode.objects.get(model_version=world.churn_v1), direction="upstream")
    live_names = {(item["kind"], item["namespace"], item["name"]) for item in live["nodes"]}
    assert live_names == set(CHURN_UPSTREAM) | {
        PAYMENTS,
        ("run", "dbt://analytics", "0192ab00-7d10-7c2e-8a51-33c0de9f0a78"),
    }
    frozen_names = {(item["kind"], item["namespace"], item["name"]) for item in frozen["graph"]["nodes"]}
    assert frozen_names == set(CHURN_UPSTREAM)
    assert node_id(*PAYMENTS) not in {item["id"] for item in frozen["graph"]["nodes"]}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE registry_lineagesnapshot SET sha256 = repeat('0', 64) WHERE id = %s",
        "UPDATE registry_lineagesnapshot SET graph = '{}'::jsonb WHERE id = %s",
        "DELETE FROM registry_lineagesnapshot WHERE id = %s",
    ],
)
def test_the_snapshot_table_refuses_changes(world, statement):
    ingest_recorded(world.ci_b, "airflow_churn_train_complete.json")
    approve(world, world.churn_v1, "production")
    snapshot = LineageSnapshot.objects.values().get()

    with pytest.raises(ProgrammingError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [snapshot["id"]])

    assert "append-only" in str(raised.value)
    assert LineageSnapshot.objects.values().get() == snapshot


def test_the_raw_event_table_refuses_changes(world):
    ingest_recorded(world.ci_b, "airflow_churn_train_complete.json")

    with pytest.raises(ProgrammingError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_lineageevent SET payload = '{}'::jsonb")

    assert "append-only" in str(raised.value)
