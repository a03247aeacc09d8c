"""Helpers of the lineage tests: the recorded OpenLineage events, names of graph nodes, and a check that
a refused request wrote nothing."""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from core.canonical import canonical_json
from governance.models import AuditEntry
from hooks.manifest import sign_manifest
from registry.models import (
    Deployment,
    LineageEdge,
    LineageEvent,
    LineageNode,
    LineageSnapshot,
    ModelVersion,
    RegisteredModel,
)
from registry.services import model_version_register
from tests.factories import team_key

FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "openlineage"
DEMO_INVENTORY = Path(settings.BASE_DIR) / "fixtures" / "demo" / "inventory.json"

# The recorded events, in the order seed_demo ingests them.
EVENT_FILES = sorted(path.name for path in FIXTURES.glob("*.json"))

SPARK_RUN_ID = "01927758-d2bc-74e0-8dbf-b11bd076f606"  # trained credit-default-pd (demo v3)
CHURN_RUN_ID = "0192a610-3743-74e0-886d-be3a78053f86"  # trained churn-propensity (demo v3)
CREDIT_DIGEST = "sha256:27ad82f752b190b981dbfa32416a4c56c2d5a781190bf9adc86b2ad4beb9860b"

# Nodes of the recorded events' graph, as (kind, namespace, name).
CHURN_MV = ("model_version", "modelgov", "churn-propensity/1")
CREDIT_MV = ("model_version", "modelgov", "credit-default-pd/1")

JOB_CHURN_TRAIN = ("job", "airflow://customer-analytics", "churn_propensity.train_random_forest")
JOB_FEATURES = ("job", "airflow://credit-risk", "credit_features.build_applicant_features")
JOB_DBT = ("job", "dbt://analytics", "analytics.marts.customer_churn_features")
JOB_SPARK = ("job", "spark://ml-cluster", "credit_default_pd.train_gbm")
RUN_CHURN_TRAIN = ("run", "airflow://customer-analytics", CHURN_RUN_ID)
RUN_FEATURES = ("run", "airflow://credit-risk", "0192775a-1c0e-7a44-9b1e-6a2f5c3d9e01")
RUN_DBT = ("run", "dbt://analytics", "0192a5ff-7d10-7c2e-8a51-33c0de9f0a77")
RUN_SPARK = ("run", "spark://ml-cluster", SPARK_RUN_ID)
CHURN_FEATURES = ("dataset", "snowflake://acme.eu-west-1", "ANALYTICS.MARTS.CUSTOMER_CHURN_FEATURES")
APPLICATIONS = ("dataset", "postgres://warehouse.internal:5432", "credit.public.applications")
BUREAU = ("dataset", "postgres://warehouse.internal:5432", "credit.public.bureau_reports")
APPLICANT_FEATURES = ("dataset", "s3://modelgov-demo-features", "credit/applicant_features/2026-10-31")
SUBSCRIPTIONS = ("dataset", "snowflake://acme.eu-west-1", "ANALYTICS.STAGING.STG_SUBSCRIPTIONS")
TICKETS = ("dataset", "snowflake://acme.eu-west-1", "ANALYTICS.STAGING.STG_SUPPORT_TICKETS")
CREDIT_ARTIFACT = ("dataset", "s3://modelgov-demo-artifacts", "credit-default-pd/3")


def recorded_event(name: str) -> dict[str, Any]:
    """A recorded OpenLineage event of fixtures/openlineage/, as its producer sent it."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def demo_manifest(model: str, index: int) -> dict[str, Any]:
    """The manifest of the ``index``-th version of ``model`` in the demo inventory."""
    inventory = json.loads(DEMO_INVENTORY.read_text(encoding="utf-8"))
    spec = next(item for item in inventory["models"] if item["name"] == model)
    return spec["versions"][index]["manifest"]


def register_demo_version(*, model: RegisteredModel, actor: Any, manifest: dict[str, Any], run_id: str) -> ModelVersion:
    """Register ``manifest`` (so the version has the demo digest) with ``run_id`` as its training run."""
    private, key = team_key(model.team)
    return model_version_register(
        actor=actor,
        model=model,
        artifact_uri=f"s3://modelgov-demo-artifacts/{model.name}/1",
        signature=sign_manifest(model_name=model.name, manifest=manifest, private_key=private),
        signing_key=key.fingerprint,
        training_run_id=run_id,
    )


# --- naming nodes and edges -------------------------------------------------------------------------------------

NodeKey = tuple[str, str, str]


def node_key(node: LineageNode) -> NodeKey:
    return (node.kind, node.namespace, node.name)


def node_id(kind: str, namespace: str, name: str) -> int:
    return LineageNode.objects.values_list("pk", flat=True).get(kind=kind, namespace=namespace, name=name)


def graph_nodes() -> set[NodeKey]:
    return set(LineageNode.objects.values_list("kind", "namespace", "name"))


def graph_edges() -> set[tuple[NodeKey, NodeKey]]:
    rows = LineageEdge.objects.values_list(
        "source__kind", "source__namespace", "source__name", "target__kind", "target__namespace", "target__name"
    )
    return {(row[:3], row[3:]) for row in rows}


def version_key(version: ModelVersion) -> NodeKey:
    return ("model_version", "modelgov", f"{version.model.name}/{version.version}")


# --- nothing written ------------------------------------------------------------------------------------------


def lineage_state() -> dict[str, Any]:
    """Every row a lineage request could write, in full."""
    return {
        "audit": list(AuditEntry.objects.order_by("id").values_list("id", "event_type", "subject_id")),
        "events": list(LineageEvent.objects.order_by("pk").values()),
        "nodes": list(LineageNode.objects.order_by("pk").values()),
        "edges": list(LineageEdge.objects.order_by("pk").values()),
        "snapshots": list(LineageSnapshot.objects.order_by("pk").values()),
        "deployments": list(Deployment.objects.order_by("pk").values()),
        "versions": list(ModelVersion.objects.order_by("pk").values("pk", "stage")),
    }


@contextmanager
def nothing_written() -> Iterator[None]:
    """Asserts that the block leaves every lineage, deployment and audit row as it was."""
    before = lineage_state()
    yield
    assert lineage_state() == before


def ingest_recorded(actor: Any, *names: str) -> None:
    """Ingest recorded events through the service (every one of them when no name is given)."""
    from registry.lineage.services import lineage_event_ingest

    for name in names or EVENT_FILES:
        lineage_event_ingest(actor=actor, payload=recorded_event(name))


def expected_nodes(depths: dict[NodeKey, int]) -> list[dict[str, Any]]:
    """The ``nodes`` of a graph response: these nodes at these depths, in the selector's order."""
    nodes = [
        {"id": node_id(*key), "kind": key[0], "namespace": key[1], "name": key[2], "depth": depth}
        for key, depth in depths.items()
    ]
    return sorted(nodes, key=lambda item: (item["depth"], item["kind"], item["namespace"], item["name"]))


def expected_edges(pairs: set[tuple[NodeKey, NodeKey]]) -> list[dict[str, Any]]:
    """The ``edges`` of a graph response: these edges, in the selector's order."""
    edges = []
    for source, target in pairs:
        edge = LineageEdge.objects.get(source_id=node_id(*source), target_id=node_id(*target))
        edges.append({"id": edge.pk, "source": edge.source_id, "target": edge.target_id})
    return sorted(edges, key=lambda item: (item["source"], item["target"]))


def sha256_of_payload(payload: Any) -> str:
    """The hash modelgov logs for an event: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()
