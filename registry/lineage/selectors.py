"""Reads of the lineage graph. A traversal is breadth first over distinct nodes (PostgreSQL and SQLite
alike): bounded by depth, safe against cycles, cut at an exact node limit, returning nodes and edges."""

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from registry.choices import LineageKind
from registry.errors import LineageNodeNotFound
from registry.models import Deployment, LineageNode, ModelVersion

MAX_DEPTH = 100
DEFAULT_DEPTH = 20
DEFAULT_LIMIT = 5_000

_NEIGHBOURS = {
    # direction: (the column matched against the frontier, the column that names the next node)
    "upstream": ("target_id", "source_id"),
    "downstream": ("source_id", "target_id"),
}


def _id_chunks(ids: list[int]) -> Iterator[list[int]]:
    # PostgreSQL takes the whole frontier as one array parameter; SQLite (the demo) caps bound variables.
    size = len(ids) if connection.vendor == "postgresql" else 500
    for offset in range(0, len(ids), max(size, 1)):
        yield ids[offset : offset + size]


def _in_clause(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _expand(cursor: Any, direction: str, frontier: list[int]) -> set[int]:
    """The nodes one edge away from ``frontier`` in ``direction``: one indexed query per level."""
    match, other = _NEIGHBOURS[direction]
    found: set[int] = set()
    for chunk in _id_chunks(frontier):
        clause, params = _in_clause(match, chunk)
        # Only fixed column names are interpolated; every value is a query parameter.
        cursor.execute(f"SELECT DISTINCT {other} FROM registry_lineageedge WHERE {clause}", params)  # noqa: S608
        found.update(row[0] for row in cursor.fetchall())
    return found


def _walk(node_id: int, direction: str, depth: int, limit: int) -> tuple[dict[int, int], bool]:
    """Breadth first, level by level, over distinct nodes: {node id: hops from the start} for the
    ``limit`` nearest nodes within ``depth`` hops, and whether a reachable node was left out.

    A recursive CTE cannot do this exactly: its UNION removes duplicate (node, depth) rows, not nodes
    seen at another depth, so a node limit in SQL counts paths. Here every node is visited once per
    direction (cycles end), each level is one indexed query, and the limit counts nodes. ``both`` walks
    upstream and downstream in step; a node's depth is the shorter of the two walks.
    """
    directions = ["upstream", "downstream"] if direction == "both" else [direction]
    reached = {node_id: 0}
    seen = {name: {node_id} for name in directions}
    frontiers = {name: [node_id] for name in directions}
    with connection.cursor() as cursor:
        for level in range(1, depth + 1):
            fresh: set[int] = set()
            for name in directions:
                if not frontiers[name]:
                    continue
                found = _expand(cursor, name, frontiers[name]) - seen[name]
                seen[name] |= found
                frontiers[name] = sorted(found)
                fresh |= found - reached.keys()
            if not fresh:
                if not any(frontiers.values()):
                    break
                continue
            room = limit - len(reached)
            if len(fresh) > room:
                # The cut keeps the nearest nodes; within the cut level, the lowest ids (stable across calls).
                reached.update((found_id, level) for found_id in sorted(fresh)[: max(room, 0)])
                return reached, True
            reached.update((found_id, level) for found_id in fresh)
    return reached, False


def lineage_graph(
    *, node: LineageNode, direction: str, depth: int = DEFAULT_DEPTH, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Nodes within ``depth`` hops of ``node`` (``upstream``, ``downstream`` or ``both``) and the
    edges between them; ``truncated`` when the node limit left out a node the walk would reach."""
    reached, truncated = _walk(node.pk, direction, depth, limit)
    ids = sorted(reached)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    with connection.cursor() as cursor:
        for chunk in _id_chunks(ids):
            clause, params = _in_clause("id", chunk)
            # Only fixed column names are interpolated; every value is a query parameter.
            cursor.execute(f"SELECT id, kind, namespace, name FROM registry_lineagenode WHERE {clause}", params)  # noqa: S608
            nodes.extend(
                {"id": pk, "kind": kind, "namespace": namespace, "name": name, "depth": reached[pk]}
                for pk, kind, namespace, name in cursor.fetchall()
            )
            # Edges between reached nodes: those leaving a node of this chunk whose target was reached too.
            clause, params = _in_clause("source_id", chunk)
            cursor.execute(f"SELECT id, source_id, target_id FROM registry_lineageedge WHERE {clause}", params)  # noqa: S608
            edges.extend(
                {"id": pk, "source": source, "target": target}
                for pk, source, target in cursor.fetchall()
                if target in reached
            )
    nodes.sort(key=lambda item: (item["depth"], item["kind"], item["namespace"], item["name"]))
    edges.sort(key=lambda item: (item["source"], item["target"]))
    return {
        "root": node.pk,
        "direction": direction,
        "depth": depth,
        "nodes": nodes,
        "edges": edges,
        "truncated": truncated,
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
