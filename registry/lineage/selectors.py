"""Reads of the lineage graph. On PostgreSQL a traversal is one recursive SQL query; on SQLite (the demo)
the same walk runs level by level from Python. Both are breadth first over distinct nodes: bounded by
depth, safe against cycles, cut at an exact node limit, returning nodes and the edges between them."""

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from core import prepared
from registry.choices import LineageKind
from registry.errors import LineageNodeNotFound
from registry.models import Deployment, LineageNode, ModelVersion

MAX_DEPTH = 100
DEFAULT_DEPTH = 20
DEFAULT_LIMIT = 5_000

# One row of the walk per level. A recursive CTE's UNION only removes rows equal to earlier rows, so a walk
# of (node, depth) rows reaches a node once per depth and a node limit would count paths. Here each row is
# the whole walk after one more level, kept in arrays: the frontier and the nodes seen in each direction,
# and every node reached with its depth. A level's new nodes come in id order and are cut at the room left
# under the limit, so the limit counts nodes and keeps the nearest ones. The recursive term names the walk
# once, outside its subqueries, as PostgreSQL requires; the subqueries only read the row's arrays.
_GRAPH_SQL = """
WITH RECURSIVE
args(start, up, down, depth, node_limit) AS (
    SELECT %s::bigint, %s::bigint[], %s::bigint[], %s::int, %s::int
),
walk(level, up, seen_up, down, seen_down, reached, depths, truncated) AS (
    SELECT 0, args.up, args.up, args.down, args.down, ARRAY[args.start], ARRAY[0], false FROM args
  UNION ALL
    SELECT w.level + 1, up.ids, w.seen_up || up.ids, down.ids, w.seen_down || down.ids,
           w.reached || fresh.ids[1:room.n],
           w.depths || array_fill(w.level + 1, ARRAY[least(cardinality(fresh.ids), room.n)]),
           cardinality(fresh.ids) > room.n
    FROM walk w
    CROSS JOIN args
    CROSS JOIN LATERAL (SELECT args.node_limit - cardinality(w.reached)) room(n)
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(f.id ORDER BY f.id), '{}') FROM (
            SELECT e.source_id FROM registry_lineageedge e WHERE e.target_id = ANY(w.up)
            EXCEPT SELECT unnest(w.seen_up)
        ) f(id)
    ) up(ids)
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(f.id ORDER BY f.id), '{}') FROM (
            SELECT e.target_id FROM registry_lineageedge e WHERE e.source_id = ANY(w.down)
            EXCEPT SELECT unnest(w.seen_down)
        ) f(id)
    ) down(ids)
    CROSS JOIN LATERAL (
        -- Walking one way, the nodes seen that way are the nodes reached: the new ones are the level.
        SELECT CASE
            WHEN cardinality(args.down) = 0 THEN up.ids
            WHEN cardinality(args.up) = 0 THEN down.ids
            ELSE (
                SELECT coalesce(array_agg(f.id ORDER BY f.id), '{}') FROM (
                    SELECT unnest(up.ids || down.ids) EXCEPT SELECT unnest(w.reached)
                ) f(id)
            )
        END
    ) fresh(ids)
    WHERE w.level < args.depth AND NOT w.truncated AND cardinality(w.up) + cardinality(w.down) > 0
),
final AS (SELECT reached, depths, truncated FROM walk ORDER BY level DESC LIMIT 1),
reached(id, depth) AS (SELECT r.id, r.depth FROM final, unnest(final.reached, final.depths) r(id, depth))
SELECT 1, n.id, r.depth, NULL, n.kind, n.namespace, n.name
  FROM reached r JOIN registry_lineagenode n ON n.id = r.id
UNION ALL
SELECT 0, e.id, e.source_id, e.target_id, NULL, NULL, NULL
  FROM reached s JOIN registry_lineageedge e ON e.source_id = s.id JOIN reached t ON t.id = e.target_id
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL FROM final WHERE final.truncated
"""


def _graph_recursive(cursor: Any, start: int, direction: str, depth: int, limit: int) -> dict[str, Any]:
    """The walk as one recursive query (PostgreSQL), prepared once per session: a row per node (tag
    1), per edge (tag 0), and one more (tag 2) when the walk was truncated."""
    up = [start] if direction in ("upstream", "both") else []
    down = [start] if direction in ("downstream", "both") else []
    prepared.execute(cursor, _GRAPH_SQL, [start, up, down, depth, limit])
    rows = cursor.fetchall()
    # Sorted here, as tuples: the database's collation sorts text more slowly and not by code point.
    nodes = sorted((row[2], row[4], row[5], row[6], row[1]) for row in rows if row[0] == 1)
    edges = sorted((row[2], row[3], row[1]) for row in rows if row[0] == 0)
    return {
        "nodes": [
            {"id": pk, "kind": kind, "namespace": namespace, "name": name, "depth": hops}
            for hops, kind, namespace, name, pk in nodes
        ],
        "edges": [{"id": pk, "source": source, "target": target} for source, target, pk in edges],
        "truncated": any(row[0] == 2 for row in rows),
    }


def _rows_where(cursor: Any, column: str, ids: list[int]) -> Iterator[Any]:
    """Rows of the edge table (``source_id``/``target_id``) or node table (``id``) for these ids."""
    table, columns = (
        ("registry_lineagenode", "id, kind, namespace, name")
        if column == "id"
        else ("registry_lineageedge", "id, source_id, target_id")
    )
    for offset in range(0, len(ids), 500):  # SQLite (the demo) caps bound variables
        chunk = ids[offset : offset + 500]
        # Only fixed table and column names and placeholders are interpolated; ids are parameters.
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(chunk))})",  # noqa: S608
            chunk,
        )
        yield from cursor.fetchall()


def _graph_by_levels(cursor: Any, start: int, direction: str, depth: int, limit: int) -> dict[str, Any]:
    """The same walk and the same answer from Python, one query per level (SQLite, which has no
    arrays): every node is expanded once per direction, ``both`` walks upstream and downstream in step
    and a node's depth is the shorter of the two; the level that overflows the limit keeps its lowest
    ids."""
    directions = ["upstream", "downstream"] if direction == "both" else [direction]
    reached = {start: 0}
    truncated = False
    seen = {name: {start} for name in directions}
    frontiers = {name: [start] for name in directions}
    for level in range(1, depth + 1):
        if not any(frontiers.values()):
            break
        fresh: set[int] = set()
        for name in directions:
            column, other = ("source_id", 2) if name == "downstream" else ("target_id", 1)
            found = {edge[other] for edge in _rows_where(cursor, column, frontiers[name])} - seen[name]
            seen[name] |= found
            frontiers[name] = sorted(found)
            fresh |= found - reached.keys()
        room = limit - len(reached)
        if len(fresh) > room:
            reached.update((found_id, level) for found_id in sorted(fresh)[: max(room, 0)])
            truncated = True
            break
        reached.update((found_id, level) for found_id in fresh)
    ids = sorted(reached)
    nodes = [
        {"id": pk, "kind": kind, "namespace": namespace, "name": name, "depth": reached[pk]}
        for pk, kind, namespace, name in _rows_where(cursor, "id", ids)
    ]
    edges = [
        {"id": pk, "source": source, "target": target}
        for pk, source, target in _rows_where(cursor, "source_id", ids)
        if target in reached
    ]
    return {
        "nodes": sorted(nodes, key=lambda item: (item["depth"], item["kind"], item["namespace"], item["name"])),
        "edges": sorted(edges, key=lambda item: (item["source"], item["target"])),
        "truncated": truncated,
    }


def lineage_graph(
    *, node: LineageNode, direction: str, depth: int = DEFAULT_DEPTH, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Nodes within ``depth`` hops of ``node`` (``upstream``, ``downstream`` or ``both``) and the
    edges between them; ``truncated`` when the node limit left out a node the walk would reach. Nodes
    come by (depth, kind, namespace, name), edges by (source, target)."""
    walk = _graph_recursive if connection.vendor == "postgresql" else _graph_by_levels
    with connection.cursor() as cursor:
        graph = walk(cursor, node.pk, direction, depth, limit)
    return {"root": node.pk, "direction": direction, "depth": depth, **graph}


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
