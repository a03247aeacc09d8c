"""Reads of the lineage graph. A traversal is breadth first over distinct nodes (PostgreSQL and SQLite
alike): bounded by depth, safe against cycles, cut at an exact node limit, returning nodes and edges."""

from collections.abc import Iterator
from dataclasses import dataclass, field
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

# direction: the edge column matched against the frontier (the other end is the next node)
_MATCHED = {"upstream": "target_id", "downstream": "source_id"}
Edge = tuple[int, int, int]  # (edge id, source node id, target node id)


_STATEMENTS = {
    "target_id": "SELECT id, source_id, target_id FROM registry_lineageedge WHERE target_id = ANY(%s)",
    "source_id": "SELECT id, source_id, target_id FROM registry_lineageedge WHERE source_id = ANY(%s)",
    "id": "SELECT id, kind, namespace, name FROM registry_lineagenode WHERE id = ANY(%s)",
}


def _rows_where(cursor: Any, column: str, ids: list[int]) -> Iterator[Any]:
    """Rows of the edge table (``source_id``/``target_id``) or node table (``id``) for these ids."""
    if connection.vendor == "postgresql":
        # Prepared once per session (planning over thousands of ids costs about as much as running),
        # the ids as one text array literal: one constant to parse, where ARRAY[...] is one per id.
        prepared.execute(cursor, _STATEMENTS[column], ["{" + ",".join(str(int(i)) for i in ids) + "}"])
        yield from cursor.fetchall()
        return
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


@dataclass
class _Walk:
    reached: dict[int, int]  # node id: hops from the start
    truncated: bool
    edges: dict[int, Edge] = field(default_factory=dict)  # every edge seen while expanding nodes
    expanded: dict[str, set[int]] = field(default_factory=dict)  # per direction, the nodes expanded


def _walk(cursor: Any, node: LineageNode, direction: str, depth: int, limit: int) -> _Walk:
    """Breadth first, level by level, over distinct nodes: the ``limit`` nearest nodes within
    ``depth`` hops, and whether a reachable node was left out.

    A recursive CTE cannot do this exactly: its UNION removes duplicate (node, depth) rows, not nodes
    seen at another depth, so a node limit in SQL counts paths. Here every node is expanded once per
    direction (cycles end), each level is one indexed query, and the limit counts nodes. ``both``
    walks upstream and downstream in step; a node's depth is the shorter of the two walks.
    """
    directions = ["upstream", "downstream"] if direction == "both" else [direction]
    node_id = node.pk
    walk = _Walk(reached={node_id: 0}, truncated=False, expanded={name: set() for name in directions})
    seen = {name: {node_id} for name in directions}
    frontiers = {name: [node_id] for name in directions}
    for level in range(1, depth + 1):
        fresh: set[int] = set()
        for name in directions:
            if not frontiers[name]:
                continue
            walk.expanded[name].update(frontiers[name])
            found: set[int] = set()
            for edge in _rows_where(cursor, _MATCHED[name], frontiers[name]):
                walk.edges[edge[0]] = edge
                found.add(edge[1] if name == "upstream" else edge[2])
            found -= seen[name]
            seen[name] |= found
            frontiers[name] = sorted(found)
            fresh |= found - walk.reached.keys()
        if not fresh:
            if not any(frontiers.values()):
                break
            continue
        room = limit - len(walk.reached)
        if len(fresh) > room:
            # The cut keeps the nearest nodes; within the cut level, the lowest ids (stable across calls).
            walk.reached.update((found_id, level) for found_id in sorted(fresh)[: max(room, 0)])
            walk.truncated = True
            break
        walk.reached.update((found_id, level) for found_id in fresh)
    return walk


def lineage_graph(
    *, node: LineageNode, direction: str, depth: int = DEFAULT_DEPTH, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Nodes within ``depth`` hops of ``node`` (``upstream``, ``downstream`` or ``both``) and the
    edges between them; ``truncated`` when the node limit left out a node the walk would reach."""
    with connection.cursor() as cursor:
        walk = _walk(cursor, node, direction, depth, limit)
        reached = walk.reached
        edges = {pk: edge for pk, edge in walk.edges.items() if edge[1] in reached and edge[2] in reached}
        # An edge between reached nodes that no expansion fetched joins a source never expanded
        # downstream to a target never expanded upstream: one more query finds those.
        sources = set(reached) - walk.expanded.get("downstream", set())
        targets = set(reached) - walk.expanded.get("upstream", set())
        if sources and targets:
            # Ask by the smaller side (after an upstream walk, the targets: its last level), filter by the other.
            column, asked = ("target_id", targets) if len(targets) <= len(sources) else ("source_id", sources)
            for edge in _rows_where(cursor, column, sorted(asked)):
                if edge[1] in sources and edge[2] in targets:
                    edges[edge[0]] = edge
        nodes = [
            {"id": pk, "kind": kind, "namespace": namespace, "name": name, "depth": reached[pk]}
            for pk, kind, namespace, name in _rows_where(cursor, "id", sorted(reached))
        ]
    nodes.sort(key=lambda item: (item["depth"], item["kind"], item["namespace"], item["name"]))
    return {
        "root": node.pk,
        "direction": direction,
        "depth": depth,
        "nodes": nodes,
        "edges": [
            {"id": pk, "source": source, "target": target}
            for pk, source, target in sorted(edges.values(), key=lambda edge: (edge[1], edge[2]))
        ],
        "truncated": walk.truncated,
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
