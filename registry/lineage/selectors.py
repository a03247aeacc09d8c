"""Reads of the lineage graph. A traversal is one recursive SQL query (PostgreSQL and SQLite alike):
breadth first, bounded by depth (so cycles end), cut at a node limit, returning nodes and edges."""

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from registry.choices import LineageKind
from registry.errors import LineageNodeNotFound
from registry.models import Deployment, LineageNode, ModelVersion

MAX_DEPTH = 100
DEFAULT_DEPTH = 20
DEFAULT_LIMIT = 5_000

_WALK = """
{name}(node_id, depth) AS (
    SELECT CAST(%s AS BIGINT), 0
    UNION
    SELECT e.{next}, w.depth + 1
    FROM {name} w JOIN registry_lineageedge e ON e.{this} = w.node_id
    WHERE w.depth < %s
)"""

_TAIL = """
limited AS (SELECT node_id, depth FROM ({walks}) AS walked LIMIT %s),
reached AS (SELECT node_id, MIN(depth) AS depth FROM limited GROUP BY node_id)
SELECT 'c', COUNT(*), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT),
       CAST(NULL AS TEXT)
FROM limited
UNION ALL
SELECT 'n', r.node_id, r.depth, CAST(NULL AS BIGINT), n.kind, n.namespace, n.name
FROM reached r JOIN registry_lineagenode n ON n.id = r.node_id
UNION ALL
SELECT 'e', e.source_id, e.target_id, e.id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT)
FROM registry_lineageedge e
WHERE e.source_id IN (SELECT node_id FROM reached) AND e.target_id IN (SELECT node_id FROM reached)
"""


def _sql(direction: str) -> tuple[str, int]:
    walks = []
    if direction in ("downstream", "both"):
        walks.append(("down", _WALK.format(name="down", next="target_id", this="source_id")))
    if direction in ("upstream", "both"):
        walks.append(("up", _WALK.format(name="up", next="source_id", this="target_id")))
    # Only the fixed CTE names above are interpolated; every value is a query parameter.
    union = " UNION ALL ".join(f"SELECT node_id, depth FROM {name}" for name, _ in walks)  # noqa: S608
    sql = "WITH RECURSIVE " + ",".join(body for _, body in walks) + "," + _TAIL.format(walks=union)
    return sql, len(walks)


def lineage_graph(
    *, node: LineageNode, direction: str, depth: int = DEFAULT_DEPTH, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Nodes within ``depth`` hops of ``node`` (``upstream``, ``downstream`` or ``both``) and the
    edges between them; ``truncated`` when the node limit cut the walk short."""
    sql, walks = _sql(direction)
    params: list[Any] = []
    for _ in range(walks):
        params += [node.pk, depth]
    params.append(limit + 1)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    walked = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row_type, first, second, third, kind, namespace, name in cursor.fetchall():
            if row_type == "c":
                walked = int(first)
            elif row_type == "n":
                nodes.append({"id": first, "kind": kind, "namespace": namespace, "name": name, "depth": second})
            else:
                edges.append({"id": third, "source": first, "target": second})
    nodes.sort(key=lambda item: (item["depth"], item["kind"], item["namespace"], item["name"]))
    edges.sort(key=lambda item: (item["source"], item["target"]))
    return {
        "root": node.pk,
        "direction": direction,
        "depth": depth,
        "nodes": nodes,
        "edges": edges,
        "truncated": walked > limit,
    }


def lineage_node_get(*, node_id: int | None = None, kind: str = "", namespace: str = "", name: str = "") -> LineageNode:
    queryset = LineageNode.objects.all()
    if node_id is not None:
        found = queryset.filter(pk=node_id).first()
    else:
        found = queryset.filter(kind=kind, namespace=namespace, name=name).first()
    if found is None:
        raise LineageNodeNotFound(
            "No lineage node by that name.",
            extra={"id": node_id, "type": kind, "namespace": namespace, "name": name},
        )
    return found


def lineage_impact(*, dataset: LineageNode, limit: int = 50_000) -> dict[str, Any]:
    """Every model version and every active deployment downstream of a dataset."""
    graph = lineage_graph(node=dataset, direction="downstream", depth=MAX_DEPTH, limit=limit)
    version_ids = [item["id"] for item in graph["nodes"] if item["kind"] == LineageKind.MODEL_VERSION]
    deployment_ids = [item["id"] for item in graph["nodes"] if item["kind"] == LineageKind.DEPLOYMENT]
    versions = (
        ModelVersion.objects.filter(lineage_node__id__in=version_ids)
        .select_related("model")
        .order_by("model__name", "version")
    )
    deployments = (
        Deployment.objects.filter(lineage_node__id__in=deployment_ids, retired_at__isnull=True)
        .select_related("model_version__model")
        .order_by("environment", "pk")
    )
    return {
        "dataset": {"id": dataset.pk, "namespace": dataset.namespace, "name": dataset.name},
        "model_versions": [
            {
                "model": item.model.name,
                "version": item.version,
                "stage": item.stage,
                "artifact_digest": item.artifact_digest,
            }
            for item in versions
        ],
        "deployments": [
            {
                "id": item.pk,
                "model": item.model_version.model.name,
                "version": item.model_version.version,
                "environment": item.environment,
                "endpoint": item.endpoint,
                "deployed_at": item.deployed_at.isoformat(),
            }
            for item in deployments
        ],
        "truncated": graph["truncated"],
    }


def deployment_list() -> QuerySet[Deployment]:
    return Deployment.objects.select_related("model_version__model", "deployed_by").order_by("-deployed_at")
