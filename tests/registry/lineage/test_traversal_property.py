"""The recursive SQL traversal, and the level-by-level walk that SQLite runs, against a plain
breadth-first search in Python, on random directed graphs (cycles, self-loops and diamonds included)
written directly as LineageNode/LineageEdge rows."""

from collections import deque

from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.lineage.selectors import MAX_DEPTH, _graph_by_levels, lineage_graph, lineage_impact
from registry.lineage.services import deployment_record, deployment_retire
from registry.models import Deployment, LineageEdge, LineageNode, ModelVersion

KINDS = ["dataset", "job", "run"]


def bfs(adjacency, start, depth):
    """Each node within ``depth`` hops of ``start`` along ``adjacency``, with its distance."""
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if seen[node] == depth:
            continue
        for neighbour in adjacency.get(node, ()):
            if neighbour not in seen:
                seen[neighbour] = seen[node] + 1
                queue.append(neighbour)
    return seen


def brute_force(edges, start, direction, depth):
    forward, backward = {}, {}
    for source, target in edges:
        forward.setdefault(source, []).append(target)
        backward.setdefault(target, []).append(source)
    walks = []
    if direction in ("downstream", "both"):
        walks.append(bfs(forward, start, depth))
    if direction in ("upstream", "both"):
        walks.append(bfs(backward, start, depth))
    reached = {}
    for walk in walks:
        for node, distance in walk.items():
            reached[node] = min(distance, reached.get(node, distance))
    return reached


def assert_levels_walk_agrees(graph, start, direction, depth, limit):
    """The walk SQLite runs, run here on PostgreSQL, answers exactly what the recursive query answered."""
    with connection.cursor() as cursor:
        walk = _graph_by_levels(cursor, start, direction, depth, limit)
    assert walk == {"nodes": graph["nodes"], "edges": graph["edges"], "truncated": graph["truncated"]}


@st.composite
def graphs(draw):
    """(kinds of the nodes, edges, edges into the world's version nodes, queries)."""
    size = draw(st.integers(min_value=20, max_value=200))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=size, max_size=size))
    index = st.integers(min_value=0, max_value=size - 1)
    edges = draw(st.sets(st.tuples(index, index), max_size=3 * size))
    # A few nodes feed the world's versions (whose nodes already lead to their deployments).
    feeds = draw(st.sets(st.tuples(index, st.integers(min_value=0, max_value=3)), max_size=6))
    queries = draw(
        st.lists(
            st.tuples(
                index,
                st.sampled_from(["upstream", "downstream", "both"]),
                st.sampled_from([1, 2, 3, 5, 8, 20, MAX_DEPTH]),
            ),
            min_size=3,
            max_size=6,
        )
    )
    return kinds, sorted(edges), sorted(feeds), queries


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=graphs())
def test_the_sql_traversal_is_a_breadth_first_search(world, example):
    kinds, edges, feeds, queries = example
    with transaction.atomic():
        versions = list(ModelVersion.objects.order_by("pk"))
        version_nodes = [version.lineage_node for version in versions]
        active = deployment_record(actor=world.ci_a, version=world.credit_v1, environment="prod-eu")
        retired = deployment_record(actor=world.ci_b, version=world.churn_v1, environment="prod-us")
        deployment_retire(actor=world.ci_b, deployment=retired)
        nodes = LineageNode.objects.bulk_create(
            LineageNode(kind=kind, namespace="prop://", name=f"n{number}") for number, kind in enumerate(kinds)
        )
        rows = [LineageEdge(source=nodes[source], target=nodes[target]) for source, target in edges]
        rows += [LineageEdge(source=nodes[source], target=version_nodes[version]) for source, version in feeds]
        LineageEdge.objects.bulk_create(rows)
        all_edges = list(LineageEdge.objects.values_list("source_id", "target_id"))
        kind_of = dict(LineageNode.objects.values_list("pk", "kind"))

        for start, direction, depth in queries:
            root = nodes[start]
            expected = brute_force(all_edges, root.pk, direction, depth)

            graph = lineage_graph(node=root, direction=direction, depth=depth, limit=50_000)

            assert {item["id"]: item["depth"] for item in graph["nodes"]} == expected
            assert len(graph["nodes"]) == len(expected)
            assert {(item["source"], item["target"]) for item in graph["edges"]} == {
                (source, target) for source, target in all_edges if source in expected and target in expected
            }
            assert graph["truncated"] is False
            assert_levels_walk_agrees(graph, root.pk, direction, depth, 50_000)

            impact = lineage_impact(dataset=root)
            downstream = brute_force(all_edges, root.pk, "downstream", MAX_DEPTH)
            reached_versions = {
                version.pk for version, node in zip(versions, version_nodes, strict=True) if node.pk in downstream
            }
            assert {(item["model"], item["version"]) for item in impact["model_versions"]} == {
                (version.model.name, version.version) for version in versions if version.pk in reached_versions
            }
            deployment_nodes = {node for node in downstream if kind_of[node] == "deployment"}
            active_reached = set(
                Deployment.objects.filter(lineage_node__in=deployment_nodes, retired_at__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            assert {item["id"] for item in impact["deployments"]} == active_reached
            assert active_reached <= {active.pk}
        transaction.set_rollback(True)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=graphs(), slack=st.integers(min_value=-10, max_value=3))
def test_the_node_limit_keeps_the_nearest_nodes(world, example, slack):
    """A limit counts nodes: at or above the reachable count nothing is cut; below it, exactly ``limit``
    nodes come back, each at its true distance, none farther than a node that was left out."""
    kinds, edges, _, queries = example
    with transaction.atomic():
        nodes = LineageNode.objects.bulk_create(
            LineageNode(kind=kind, namespace="prop://", name=f"n{number}") for number, kind in enumerate(kinds)
        )
        LineageEdge.objects.bulk_create(
            LineageEdge(source=nodes[source], target=nodes[target]) for source, target in edges
        )
        all_edges = list(LineageEdge.objects.values_list("source_id", "target_id"))

        for start, direction, depth in queries:
            expected = brute_force(all_edges, nodes[start].pk, direction, depth)
            limit = max(1, len(expected) + slack)

            graph = lineage_graph(node=nodes[start], direction=direction, depth=depth, limit=limit)

            got = {item["id"]: item["depth"] for item in graph["nodes"]}
            assert len(got) == min(limit, len(expected))
            assert graph["truncated"] is (limit < len(expected))
            assert all(expected[node] == distance for node, distance in got.items())
            left_out = [distance for node, distance in expected.items() if node not in got]
            assert max(got.values()) <= min(left_out, default=MAX_DEPTH)
            assert_levels_walk_agrees(graph, nodes[start].pk, direction, depth, limit)
        transaction.set_rollback(True)
