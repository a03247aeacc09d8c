"""Lineage benchmark: upstream queries on a pipeline-shaped graph of 10^5 nodes and 2x10^5 edges against
networkx in memory, and the rate at which OpenLineage events are ingested.

One run:

1. resets a dedicated PostgreSQL database (``modelgov_bench_lineage``; BENCH_DATABASE_URL overrides),
   migrates it with ``manage.py migrate`` and creates the service keys (``manage.py init_keys``) in a
   temporary MODELGOV_KEY_DIR; this process and the optional gunicorn share that environment;
2. generates a layered graph shaped like real pipelines (seeded): layer 0 holds source datasets, odd
   layers runs, even layers the datasets those runs write; every run reads two datasets of the layer
   below (fan-in 2) and writes one of the layer above, and further reads skip 3 to 11 layers (shared
   reference tables, features reused downstream) until the edge count is reached; loads nodes and edges
   with COPY, then VACUUM ANALYZE (what autovacuum leaves behind: statistics, and the visibility map
   that lets the walk read edges from the index alone);
3. times ``registry.lineage.selectors.lineage_graph(direction="upstream", depth=20)`` from random
   datasets of the top dataset layer, with the default node limit and with limit=50,000, and the same
   traversal in networkx (``single_source_shortest_path_length`` on the reversed graph, cutoff 20) from
   the same starts; checks that the untruncated SQL walks reach exactly the nodes networkx reaches;
4. replays generated RunEvents (unique runIds, 2 inputs and 1 output each) through
   ``registry.lineage.services.lineage_event_ingest`` in this process for a fixed time, and through
   ``POST /api/v1/lineage`` on gunicorn (2 sync workers, 4 client threads) unless ``--no-http``;
5. prints a summary table against the floor; below the floor, the statements of one call with their times.

    .venv/bin/python bench/lineage.py                 # full run (about 3 to 6 minutes on 2 cores)
    .venv/bin/python bench/lineage.py --quick         # smoke run: 10k nodes, 20k edges, 20 starts, 2 s rounds
    .venv/bin/python bench/lineage.py --explain       # print the statements of one call even at or above the floor

Exit status: 0 after a measurement (even below the floor), 1 on any error or failed consistency check.
"""

import argparse
import http.client
import io
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO_ROOT))

from bench._report import Figure, summary  # noqa: E402
from bench.api_read import (  # noqa: E402
    BenchError,
    child_environment,
    free_port,
    manage,
    reset_database,
    start_gunicorn,
    stop_gunicorn,
    wait_healthy,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/modelgov_bench_lineage"
SETTINGS_MODULE = "config.settings.base"

NODES = 100_000
EDGES = 200_000
LAYERS = 50
FAN_IN = 2
SKIP_MIN, SKIP_MAX = 3, 11  # a cross-layer read reaches this many layers down (odd: datasets sit on even layers)
STARTS = 100
DEPTH = 20
BIG_LIMIT = 50_000
BIG_STARTS = 20  # the limit=50,000 walks take seconds each: the first 20 starts, or as many as fit the budget
BIG_BUDGET_SECONDS = 150.0
SWEEP_LIMITS = (500, 1_000, 2_000)  # what node limit the floor allows today
SWEEP_STARTS = 20
WARMUP_QUERIES = 5
INGEST_SECONDS = 10.0
HTTP_SECONDS = 10.0
HTTP_CLIENTS = 4
DATASET_POOL = 5_000  # datasets the replayed events read and write (so nodes are reused, as in production)
SEED = 20261105

FLOOR_P50_MS = 50.0  # upstream, depth 20, default node limit: median at most

PRODUCER = "https://github.com/modelgov/modelgov/tree/main/bench/lineage.py"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# --------------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------------


@dataclass
class Graph:
    """Nodes are numbered 1..n (they become the primary keys); ``layer_of[i - 1]`` is node i's layer."""

    per_layer: int
    layers: int
    edges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.per_layer * self.layers

    def node(self, layer: int, position: int) -> int:
        return layer * self.per_layer + position + 1

    def kind(self, node: int) -> str:
        return "run" if ((node - 1) // self.per_layer) % 2 else "dataset"

    def top_datasets(self) -> range:
        top = self.layers - 1 if (self.layers - 1) % 2 == 0 else self.layers - 2
        return range(self.node(top, 0), self.node(top, self.per_layer - 1) + 1)


def generate(nodes: int, edges: int, layers: int, seed: int) -> Graph:
    rng = random.Random(seed)
    graph = Graph(per_layer=nodes // layers, layers=layers)
    seen: set[tuple[int, int]] = set()

    def add(source: int, target: int) -> None:
        if (source, target) not in seen:
            seen.add((source, target))
            graph.edges.append((source, target))

    width = graph.per_layer
    for layer in range(1, layers, 2):
        for position in range(width):
            run = graph.node(layer, position)
            for source in rng.sample(range(width), FAN_IN):
                add(graph.node(layer - 1, source), run)
            if layer + 1 < layers:
                add(run, graph.node(layer + 1, position))
    run_layers = [layer for layer in range(1, layers, 2) if layer >= SKIP_MIN + 1]
    while len(graph.edges) < edges:
        layer = rng.choice(run_layers)
        older = layer - rng.randrange(SKIP_MIN, min(SKIP_MAX, layer) + 1, 2)
        add(graph.node(older, rng.randrange(width)), graph.node(layer, rng.randrange(width)))
    if len(graph.edges) != edges:
        raise BenchError(f"generated {len(graph.edges)} edges, wanted {edges}")
    return graph


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterator[str]) -> None:
    buffer = io.StringIO()
    buffer.writelines(rows)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def load(graph: Graph) -> float:
    """COPY the graph into the lineage tables, reset the id sequences, VACUUM ANALYZE; seconds taken."""
    from django.db import connection, transaction

    now = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg2's cursor, for copy_expert

        def node_rows() -> Iterator[str]:
            for node in range(1, graph.size + 1):
                layer, position = divmod(node - 1, graph.per_layer)
                if graph.kind(node) == "run":
                    namespace = f"bench://scheduler/pipeline-{position % 200:03d}"
                    name = str(uuid.UUID(int=node, version=4))
                else:
                    namespace = "bench://warehouse"
                    name = f"layer{layer:02d}.table{position:05d}"
                yield f"{node}\t{graph.kind(node)}\t{namespace}\t{name}\t{{}}\t{now}\t{now}\n"

        copy_rows(raw, "registry_lineagenode", "id, kind, namespace, name, facets, created_at, updated_at", node_rows())
        copy_rows(
            raw,
            "registry_lineageedge",
            "source_id, target_id, created_at",
            (f"{source}\t{target}\t{now}\n" for source, target in graph.edges),
        )
        for table in ("registry_lineagenode", "registry_lineageedge"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE registry_lineagenode")
        cursor.execute("VACUUM ANALYZE registry_lineageedge")
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    milliseconds: list[float]
    reached: list[int]
    truncated: int = 0

    def percentile(self, share: int) -> float:
        if len(self.milliseconds) < 2:
            return self.milliseconds[0]
        return statistics.quantiles(self.milliseconds, n=100, method="inclusive")[share - 1]


def time_sql(
    starts: list[Any], limit: int, budget_seconds: float | None = None, warmup: int = WARMUP_QUERIES
) -> tuple[Timed, dict[int, set[int]]]:
    """``lineage_graph`` upstream from each start (after ``warmup`` untimed queries); stops early once
    ``budget_seconds`` are spent (at least 5 starts)."""
    from registry.lineage.selectors import lineage_graph

    for node in starts[:warmup]:
        lineage_graph(node=node, direction="upstream", depth=DEPTH, limit=limit)
    times, reached, found = [], [], {}
    truncated = 0
    began = time.perf_counter()
    for node in starts:
        if budget_seconds is not None and len(times) >= 5 and time.perf_counter() - began > budget_seconds:
            break
        started = time.perf_counter()
        graph = lineage_graph(node=node, direction="upstream", depth=DEPTH, limit=limit)
        times.append((time.perf_counter() - started) * 1e3)
        reached.append(len(graph["nodes"]))
        truncated += int(graph["truncated"])
        if not graph["truncated"]:
            found[node.pk] = {item["id"] for item in graph["nodes"]}
    return Timed(times, reached, truncated), found


def time_networkx(graph: Graph, starts: list[int]) -> tuple[Timed, dict[int, set[int]], float]:
    import networkx as nx

    started = time.perf_counter()
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(1, graph.size + 1))
    digraph.add_edges_from(graph.edges)
    upstream = digraph.reverse(copy=True)
    build_seconds = time.perf_counter() - started
    for start in starts[:WARMUP_QUERIES]:
        nx.single_source_shortest_path_length(upstream, start, cutoff=DEPTH)
    times, reached, found = [], [], {}
    for start in starts:
        began = time.perf_counter()
        lengths = nx.single_source_shortest_path_length(upstream, start, cutoff=DEPTH)
        times.append((time.perf_counter() - began) * 1e3)
        reached.append(len(lengths))
        found[start] = set(lengths)
    return Timed(times, reached), found, build_seconds


def walk_statistics(start: int) -> tuple[int, int]:
    """Rows the recursive walk produces (one per node and distance) and the distinct nodes among them."""
    from django.db import connection

    sql = """
        WITH RECURSIVE up(node_id, depth) AS (
            SELECT CAST(%s AS BIGINT), 0
            UNION
            SELECT e.source_id, w.depth + 1 FROM up w JOIN registry_lineageedge e ON e.target_id = w.node_id
            WHERE w.depth < %s
        )
        SELECT COUNT(*), COUNT(DISTINCT node_id) FROM up
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, DEPTH])
        rows, distinct = cursor.fetchone()
    return int(rows), int(distinct)


def explain(start: int, limit: int) -> str:
    """The statements one lineage_graph call runs (on PostgreSQL the one recursive query; the session's
    first call also prepares it), each with its time and row count: where the milliseconds go."""
    from django.db import connection

    from registry.lineage.selectors import lineage_graph
    from registry.models import LineageNode

    lines: list[str] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        result = execute(sql, params, many, context)
        cursor = context["cursor"]
        rows = cursor.rowcount if cursor.rowcount is not None else -1
        lines.append(f"  {(time.perf_counter() - began) * 1e3:8.2f} ms {rows:7,} rows  {sql.split(' (')[0][:70]}")
        return result

    node = LineageNode.objects.get(pk=start)
    with connection.execute_wrapper(timed):
        began = time.perf_counter()
        graph = lineage_graph(node=node, direction="upstream", depth=DEPTH, limit=limit)
        total = (time.perf_counter() - began) * 1e3
    lines.append(f"  {total:8.2f} ms in all: {len(graph['nodes']):,} nodes, {len(graph['edges']):,} edges")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Ingestion
# --------------------------------------------------------------------------------------------------


def run_events(seed: int) -> Iterator[dict[str, Any]]:
    """RunEvents shaped like a scheduler's COMPLETE events: unique runIds, 2 inputs, 1 output."""
    rng = random.Random(seed)
    number = 0
    while True:
        number += 1
        first, second = rng.sample(range(DATASET_POOL), 2)
        output = rng.randrange(DATASET_POOL)
        yield {
            "eventType": "COMPLETE",
            "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": {"runId": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
            "job": {"namespace": "bench://ingest", "name": f"pipeline_{number % 300:03d}.task"},
            "inputs": [
                {"namespace": "bench://ingest-warehouse", "name": f"table{first:05d}"},
                {"namespace": "bench://ingest-warehouse", "name": f"table{second:05d}"},
            ],
            "outputs": [{"namespace": "bench://ingest-warehouse", "name": f"table{output:05d}"}],
        }


def round_trip_ms(samples: int = 200) -> float:
    """Median time of ``SELECT 1`` on this process's connection: what one SQL statement costs at least."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def statements_per_event(actor: Any, seed: int) -> int:
    """SQL statements one new event costs (graph, raw event, audit entry, after-commit integration)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry.lineage.services import lineage_event_ingest

    with CaptureQueriesContext(connection) as captured:
        lineage_event_ingest(actor=actor, payload=next(run_events(seed)))
    return len(captured.captured_queries)


def ingest_in_process(actor: Any, seconds: float, seed: int) -> tuple[int, float]:
    from registry.lineage.services import lineage_event_ingest

    events = run_events(seed)
    for _ in range(20):  # warm-up: imports, schema compilation, the first nodes
        lineage_event_ingest(actor=actor, payload=next(events))
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        _, created = lineage_event_ingest(actor=actor, payload=next(events))
        if not created:
            raise BenchError("a generated event was taken for a replay: runIds must be unique")
        count += 1
    return count, time.perf_counter() - started


def ingest_over_http(port: int, token: str, seconds: float, seed: int) -> tuple[int, float, int]:
    counts = [0] * HTTP_CLIENTS
    errors = [0] * HTTP_CLIENTS
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    deadline = started + seconds

    def client(index: int) -> None:
        events = run_events(seed + 1 + index)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while time.perf_counter() < deadline:
                body = json.dumps(next(events))
                try:
                    connection.request("POST", "/api/v1/lineage", body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    connection.close()
                    continue
                if response.status == 201:
                    counts[index] += 1
                else:
                    errors[index] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(HTTP_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started, sum(errors)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def timed_figures(label: str, timed: Timed, floor: bool = False) -> list[Figure]:
    p50 = timed.percentile(50)
    return [
        Figure(
            f"{label}: p50",
            p50,
            "ms",
            f"<= {FLOOR_P50_MS:g} ms" if floor else "",
            p50 <= FLOOR_P50_MS if floor else None,
        ),
        Figure(f"{label}: p99", timed.percentile(99), "ms"),
        Figure(f"{label}: nodes reached, median", statistics.median(timed.reached), "nodes"),
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k nodes, 20k edges, 20 starts, 2 s")
    parser.add_argument("--no-http", action="store_true", help="skip the ingestion through gunicorn")
    parser.add_argument("--explain", action="store_true", help="print the statements of one call whatever the result")
    args = parser.parse_args()
    args.nodes, args.edges = (10_000, 20_000) if args.quick else (NODES, EDGES)
    args.starts = 20 if args.quick else STARTS
    args.seconds = 2.0 if args.quick else INGEST_SECONDS
    return args


def step(message: str) -> Callable[[], None]:
    print(message, end=" ", flush=True)
    started = time.perf_counter()

    def done() -> None:
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)

    return done


def run(args: argparse.Namespace, database_url: str, key_dir: str) -> list[Figure]:
    env = child_environment(database_url)
    env["MODELGOV_KEY_DIR"] = key_dir
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ.update(env)  # the same environment for manage.py, this process and gunicorn

    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, loadavg {load1:.2f} {load5:.2f}; python {sys.version.split()[0]}")
    done = step(f"database: {database_url.rsplit('/', 1)[-1]} (reset, migrate, init_keys)")
    reset_database(database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "init_keys")
    done()

    import django

    django.setup()
    import networkx as nx
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from governance.services import api_token_create
    from registry.lineage.selectors import DEFAULT_LIMIT
    from registry.models import LineageNode

    # ---- 2. the graph ------------------------------------------------------------------------------
    done = step(f"GRAPH: generating {args.nodes:,} nodes, {args.edges:,} edges in {LAYERS} layers (seed {SEED})")
    graph = generate(args.nodes, args.edges, LAYERS, SEED)
    done()
    runs_in = sum(1 for _, target in graph.edges if graph.kind(target) == "run")
    print(
        f"  {graph.per_layer:,} nodes per layer; a run reads {runs_in / (graph.size / 2):.2f} datasets on average "
        f"({FAN_IN} of the layer below, the rest {SKIP_MIN}-{SKIP_MAX} layers down)",
        flush=True,
    )
    seconds = load(graph)
    print(f"  COPY + VACUUM ANALYZE: {seconds:.1f} s ({(args.nodes + args.edges) / seconds:,.0f} rows/s)", flush=True)

    rng = random.Random(SEED + 1)
    start_ids = rng.sample(graph.top_datasets(), args.starts)
    by_id = LineageNode.objects.in_bulk(start_ids)
    starts = [by_id[pk] for pk in start_ids]

    # ---- 3. queries ------------------------------------------------------------------------------
    print()
    print(
        f"QUERIES: upstream, depth {DEPTH}, from {args.starts} random datasets of the top dataset layer "
        f"(after {WARMUP_QUERIES} warm-up queries each)",
        flush=True,
    )
    done = step(f"  lineage_graph, default limit ({DEFAULT_LIMIT:,})")
    default_sql, _ = time_sql(starts, DEFAULT_LIMIT)
    done()
    done = step(f"  lineage_graph, limit={BIG_LIMIT:,}, first {BIG_STARTS} starts (budget {BIG_BUDGET_SECONDS:g} s)")
    big_sql, sql_found = time_sql(starts[:BIG_STARTS], BIG_LIMIT, BIG_BUDGET_SECONDS, warmup=1)
    done()
    sweep = {}
    for limit in SWEEP_LIMITS:
        done = step(f"  lineage_graph, limit={limit:,}, first {SWEEP_STARTS} starts")
        sweep[limit], _ = time_sql(starts[:SWEEP_STARTS], limit, warmup=2)
        done()
    done = step(f"  networkx {nx.__version__}: build DiGraph + reverse, then single_source_shortest_path_length")
    in_memory, nx_found, build_seconds = time_networkx(graph, start_ids)
    done()
    mismatched = [pk for pk in sql_found if sql_found[pk] != nx_found[pk]]
    if mismatched:
        raise BenchError(f"the SQL walk and networkx disagree on the nodes upstream of {mismatched[:5]}")
    median_start = sorted(start_ids, key=lambda pk: len(nx_found[pk]))[len(start_ids) // 2]
    rows, distinct = walk_statistics(median_start)
    print(
        f"  default limit: {default_sql.truncated}/{args.starts} walks truncated; limit {BIG_LIMIT:,}: "
        f"{big_sql.truncated}/{len(big_sql.milliseconds)} truncated; the {len(sql_found)} untruncated walks reach "
        "the same nodes as networkx",
        flush=True,
    )
    print(
        f"  median start {median_start}: a recursive CTE would yield {rows:,} (node, depth) rows for "
        f"{distinct:,} distinct nodes (why the recursive query carries each level's distinct nodes in arrays: "
        "a limit on such rows counts paths)",
        flush=True,
    )

    figures = [
        *timed_figures(f"upstream d{DEPTH} lineage_graph, limit {DEFAULT_LIMIT:,}", default_sql, floor=True),
        Figure(
            f"upstream d{DEPTH} lineage_graph, limit {DEFAULT_LIMIT:,}: truncated walks", default_sql.truncated, "walks"
        ),
        *timed_figures(
            f"upstream d{DEPTH} lineage_graph, limit {BIG_LIMIT:,} ({len(big_sql.milliseconds)} starts)", big_sql
        ),
        Figure(f"upstream d{DEPTH} lineage_graph, limit {BIG_LIMIT:,}: truncated walks", big_sql.truncated, "walks"),
        *timed_figures(f"upstream d{DEPTH} networkx in memory", in_memory),
        Figure("networkx: building the graph in memory (once)", build_seconds * 1e3, "ms"),
        *(
            Figure(
                f"upstream d{DEPTH} lineage_graph, limit {limit:,} ({SWEEP_STARTS} starts): p50",
                timed.percentile(50),
                "ms",
            )
            for limit, timed in sweep.items()
        ),
        Figure(
            f"ratio p50 lineage_graph limit {DEFAULT_LIMIT:,} / networkx",
            default_sql.percentile(50) / in_memory.percentile(50),
            "x",
        ),
        Figure(
            f"ratio p50 lineage_graph limit {BIG_LIMIT:,} / networkx (same starts)",
            big_sql.percentile(50) / Timed(in_memory.milliseconds[: len(big_sql.milliseconds)], []).percentile(50),
            "x",
        ),
    ]

    # ---- 4. ingestion ------------------------------------------------------------------------------
    print()
    ci = get_user_model().objects.create_user(username="bench-ci", password=None)
    ci.groups.add(Group.objects.get(name="ci_pipeline"))
    done = step(f"INGEST: lineage_event_ingest in process, one event per transaction, {args.seconds:g} s")
    count, elapsed = ingest_in_process(ci, args.seconds, SEED + 2)
    done()
    figures.append(Figure("ingest in process (lineage_event_ingest), events/s", count / elapsed, "1/s"))
    figures.append(Figure("  SQL statements per new event", statements_per_event(ci, SEED + 3), "stmts"))
    figures.append(Figure("  SELECT 1 round trip on the same connection, median", round_trip_ms(), "ms"))
    if not args.no_http:
        token = api_token_create(actor=None, user=ci, name="bench", expires_at=None).secret
        with tempfile.TemporaryDirectory(prefix="modelgov-bench-lineage-") as workdir:
            log_path = Path(workdir) / "gunicorn.log"
            port = free_port()
            server = start_gunicorn(env, port, log_path)
            try:
                wait_healthy(server, port, log_path)
                ingest_over_http(port, token, 1.0, SEED + 100)  # warm-up
                done = step(
                    f"INGEST: POST /api/v1/lineage, gunicorn 2 sync workers, {HTTP_CLIENTS} clients, {args.seconds:g} s"
                )
                count, elapsed, errors = ingest_over_http(port, token, args.seconds, SEED + 200)
                done()
            finally:
                stop_gunicorn(server)
        if errors:
            raise BenchError(f"{errors} failed or non-201 lineage POSTs")
        figures.append(Figure(f"ingest over HTTP ({HTTP_CLIENTS} clients), events/s", count / elapsed, "1/s"))

    summary(figures)
    below = default_sql.percentile(50) > FLOOR_P50_MS
    if below or args.explain:
        print()
        print(f"statements of one default-limit lineage_graph call from the median start {median_start}:")
        print(explain(median_start, DEFAULT_LIMIT))
    return figures


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="modelgov-bench-keys-") as key_dir:
            run(args, database_url, key_dir)
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
