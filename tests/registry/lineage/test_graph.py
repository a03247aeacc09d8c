"""GET /api/v1/lineage/graph and /api/v1/lineage/impact over the graph of the recorded events."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.lineage.services import deployment_record, deployment_retire, lineage_event_ingest
from registry.models import Deployment, LineageEdge, LineageNode

from .support import (
    APPLICANT_FEATURES,
    APPLICATIONS,
    BUREAU,
    CHURN_FEATURES,
    CHURN_MV,
    CREDIT_ARTIFACT,
    CREDIT_MV,
    JOB_CHURN_TRAIN,
    JOB_DBT,
    JOB_FEATURES,
    JOB_SPARK,
    RUN_CHURN_TRAIN,
    RUN_DBT,
    RUN_FEATURES,
    RUN_SPARK,
    SUBSCRIPTIONS,
    TICKETS,
    expected_edges,
    expected_nodes,
    ingest_recorded,
    lineage_state,
    node_id,
    recorded_event,
)

GRAPH = "/api/v1/lineage/graph"
IMPACT = "/api/v1/lineage/impact"

# Upstream of credit-default-pd v1, by distance.
CREDIT_UPSTREAM = {
    CREDIT_MV: 0,
    RUN_SPARK: 1,
    CREDIT_ARTIFACT: 1,
    JOB_SPARK: 2,
    APPLICANT_FEATURES: 2,
    RUN_FEATURES: 3,
    JOB_FEATURES: 4,
    APPLICATIONS: 4,
    BUREAU: 4,
}
CREDIT_UPSTREAM_EDGES = {
    (JOB_SPARK, RUN_SPARK),
    (APPLICANT_FEATURES, RUN_SPARK),
    (RUN_SPARK, CREDIT_ARTIFACT),
    (RUN_SPARK, CREDIT_MV),
    (CREDIT_ARTIFACT, CREDIT_MV),
    (RUN_FEATURES, APPLICANT_FEATURES),
    (JOB_FEATURES, RUN_FEATURES),
    (APPLICATIONS, RUN_FEATURES),
    (BUREAU, RUN_FEATURES),
}


@pytest.fixture
def graph(world):
    """Every recorded event ingested."""
    ingest_recorded(world.ci_a)
    return world


def query(key):
    kind, namespace, name = key
    return {"type": kind, "namespace": namespace, "name": name}


def body(root, direction, depth, depths, edges, truncated=False):
    return {
        "root": node_id(*root),
        "direction": direction,
        "depth": depth,
        "nodes": expected_nodes(depths),
        "edges": expected_edges(edges),
        "truncated": truncated,
    }


def test_upstream_of_a_version_by_name(graph, api):
    response = api(graph.owner_a).get(GRAPH, {**query(CREDIT_MV), "direction": "upstream"})

    assert response.status_code == 200, response.json()
    assert response.json() == body(CREDIT_MV, "upstream", 20, CREDIT_UPSTREAM, CREDIT_UPSTREAM_EDGES)


def test_upstream_is_the_default_direction_and_a_node_may_be_named_by_id(graph, api):
    response = api(graph.auditor).get(GRAPH, {"id": node_id(*CREDIT_MV)})

    assert response.status_code == 200
    assert response.json() == body(CREDIT_MV, "upstream", 20, CREDIT_UPSTREAM, CREDIT_UPSTREAM_EDGES)


@pytest.mark.parametrize(
    ("depth", "reached"),
    [
        (1, {CREDIT_MV, RUN_SPARK, CREDIT_ARTIFACT}),
        (2, {CREDIT_MV, RUN_SPARK, CREDIT_ARTIFACT, JOB_SPARK, APPLICANT_FEATURES}),
        (3, {CREDIT_MV, RUN_SPARK, CREDIT_ARTIFACT, JOB_SPARK, APPLICANT_FEATURES, RUN_FEATURES}),
        (4, set(CREDIT_UPSTREAM)),
        (100, set(CREDIT_UPSTREAM)),
    ],
)
def test_depth_bounds_the_walk(graph, api, depth, reached):
    response = api(graph.ci_a).get(GRAPH, {**query(CREDIT_MV), "depth": depth})

    assert response.status_code == 200
    depths = {key: CREDIT_UPSTREAM[key] for key in reached}
    edges = {(source, target) for source, target in CREDIT_UPSTREAM_EDGES if {source, target} <= reached}
    assert response.json() == body(CREDIT_MV, "upstream", depth, depths, edges)


def test_downstream_of_a_source_table(graph, api):
    response = api(graph.ci_b).get(GRAPH, {**query(BUREAU), "direction": "downstream"})

    assert response.status_code == 200
    depths = {BUREAU: 0, RUN_FEATURES: 1, APPLICANT_FEATURES: 2, RUN_SPARK: 3, CREDIT_ARTIFACT: 4, CREDIT_MV: 4}
    edges = {
        (BUREAU, RUN_FEATURES),
        (RUN_FEATURES, APPLICANT_FEATURES),
        (APPLICANT_FEATURES, RUN_SPARK),
        (RUN_SPARK, CREDIT_ARTIFACT),
        (RUN_SPARK, CREDIT_MV),
        (CREDIT_ARTIFACT, CREDIT_MV),
    }
    assert response.json() == body(BUREAU, "downstream", 20, depths, edges)


def test_both_directions_of_an_intermediate_dataset(graph, api):
    response = api(graph.ci_a).get(GRAPH, {**query(CHURN_FEATURES), "direction": "both", "depth": 2})

    assert response.status_code == 200
    depths = {
        CHURN_FEATURES: 0,
        RUN_DBT: 1,
        RUN_CHURN_TRAIN: 1,
        JOB_DBT: 2,
        SUBSCRIPTIONS: 2,
        TICKETS: 2,
        CHURN_MV: 2,
    }
    edges = {
        (RUN_DBT, CHURN_FEATURES),
        (CHURN_FEATURES, RUN_CHURN_TRAIN),
        (JOB_DBT, RUN_DBT),
        (SUBSCRIPTIONS, RUN_DBT),
        (TICKETS, RUN_DBT),
        (RUN_CHURN_TRAIN, CHURN_MV),
    }
    assert response.json() == body(CHURN_FEATURES, "both", 2, depths, edges)
    assert JOB_CHURN_TRAIN not in depths  # upstream of a downstream node is neither direction


def test_the_node_limit_cuts_the_walk_and_says_so(graph, api):
    response = api(graph.ci_a).get(GRAPH, {**query(CREDIT_MV), "limit": 3})

    assert response.status_code == 200
    nearest = {CREDIT_MV: 0, RUN_SPARK: 1, CREDIT_ARTIFACT: 1}
    edges = {(RUN_SPARK, CREDIT_ARTIFACT), (RUN_SPARK, CREDIT_MV), (CREDIT_ARTIFACT, CREDIT_MV)}
    assert response.json() == body(CREDIT_MV, "upstream", 20, nearest, edges, truncated=True)


def test_a_limit_the_graph_fits_in_is_not_truncated(graph, api):
    response = api(graph.ci_a).get(GRAPH, {**query(CREDIT_MV), "limit": len(CREDIT_UPSTREAM)})

    assert response.status_code == 200
    assert response.json() == body(CREDIT_MV, "upstream", 20, CREDIT_UPSTREAM, CREDIT_UPSTREAM_EDGES)


# --- cycles ------------------------------------------------------------------------------------------------------


@pytest.fixture
def cycle(world):
    """a → b → c → a, written directly (no producer emits cycles, but nothing forbids them)."""
    a, b, c = (LineageNode.objects.create(kind="dataset", namespace="loop://", name=name) for name in "abc")
    LineageEdge.objects.bulk_create(
        [LineageEdge(source=a, target=b), LineageEdge(source=b, target=c), LineageEdge(source=c, target=a)]
    )
    return {"a": ("dataset", "loop://", "a"), "b": ("dataset", "loop://", "b"), "c": ("dataset", "loop://", "c")}


@pytest.mark.parametrize(
    ("direction", "depths"),
    [
        ("downstream", {"a": 0, "b": 1, "c": 2}),
        ("upstream", {"a": 0, "c": 1, "b": 2}),
        ("both", {"a": 0, "b": 1, "c": 1}),
    ],
)
def test_a_cycle_ends_and_returns_each_node_once(world, api, cycle, direction, depths):
    response = api(world.ci_a).get(GRAPH, {**query(cycle["a"]), "direction": direction, "depth": 100})

    assert response.status_code == 200
    edges = {(cycle["a"], cycle["b"]), (cycle["b"], cycle["c"]), (cycle["c"], cycle["a"])}
    expected = body(cycle["a"], direction, 100, {cycle[name]: depth for name, depth in depths.items()}, edges)
    assert response.json() == expected


def test_a_cycle_walked_deep_is_not_truncated_by_a_limit_above_its_size(world, api, cycle):
    """Three nodes fit in a limit of 10 however often the walk goes round the loop."""
    response = api(world.ci_a).get(GRAPH, {**query(cycle["a"]), "direction": "downstream", "depth": 100, "limit": 10})

    assert response.status_code == 200
    edges = {(cycle["a"], cycle["b"]), (cycle["b"], cycle["c"]), (cycle["c"], cycle["a"])}
    depths = {cycle["a"]: 0, cycle["b"]: 1, cycle["c"]: 2}
    assert response.json() == body(cycle["a"], "downstream", 100, depths, edges)


# --- bad queries ---------------------------------------------------------------------------------------------------


def test_an_unknown_node_is_not_found(graph, api):
    response = api(graph.ci_a).get(GRAPH, {"type": "dataset", "namespace": "s3://nowhere", "name": "missing"})

    assert response.status_code == 404
    assert response.json() == {
        "code": "lineage_node_not_found",
        "message": "No lineage node by that name.",
        "extra": {"id": None, "type": "dataset", "namespace": "s3://nowhere", "name": "missing"},
    }


def test_an_unknown_id_is_not_found(graph, api):
    missing = LineageNode.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000

    response = api(graph.ci_a).get(GRAPH, {"id": missing})

    assert response.status_code == 404
    assert response.json()["code"] == "lineage_node_not_found"
    assert response.json()["extra"]["id"] == missing


def test_a_known_name_of_another_kind_is_not_found(graph, api):
    response = api(graph.ci_a).get(GRAPH, query(("job", *APPLICATIONS[1:])))

    assert response.status_code == 404
    assert response.json()["code"] == "lineage_node_not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"depth": 0}, "depth"),
        ({"depth": 101}, "depth"),
        ({"depth": "deep"}, "depth"),
        ({"limit": 0}, "limit"),
        ({"limit": 50_001}, "limit"),
        ({"type": "table"}, "type"),
    ],
)
def test_a_bad_parameter_is_refused(graph, api, params, field):
    response = api(graph.ci_a).get(GRAPH, {**query(CREDIT_MV), **params})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["extra"]["fields"]) == [field]


def test_a_node_needs_an_id_or_its_three_names(graph, api):
    response = api(graph.ci_a).get(GRAPH, {"namespace": CREDIT_MV[1], "name": CREDIT_MV[2]})

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {
        "non_field_errors": ["Name a node by id, or by type, namespace and name."]
    }


def test_an_unknown_parameter_is_refused(graph, api):
    response = api(graph.ci_a).get(GRAPH, {**query(CREDIT_MV), "hops": 2})

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"


@pytest.mark.parametrize("url", [GRAPH, IMPACT])
def test_anonymous_may_not_query(graph, api, url):
    response = api(None).get(url, {**query(APPLICATIONS)})

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- impact ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def deployed(graph):
    """credit-default-pd v1 serving in prod-eu, retired from staging; churn-propensity v1 in prod-us; and a
    churn job that also reads the bureau table, so that table feeds both models."""
    prod = deployment_record(
        actor=graph.ci_a, version=graph.credit_v1, environment="prod-eu", endpoint="https://models.example/credit"
    )
    staging = deployment_record(actor=graph.ci_a, version=graph.credit_v1, environment="staging")
    deployment_retire(actor=graph.ci_a, deployment=staging)
    churn = deployment_record(actor=graph.ci_b, version=graph.churn_v1, environment="prod-us")
    enrich = recorded_event("dbt_churn_features_complete.json")
    enrich["run"]["runId"] = "0192b000-0000-7000-8000-00000000beef"
    enrich["inputs"] = [{"namespace": BUREAU[1], "name": BUREAU[2]}]
    lineage_event_ingest(actor=graph.ci_b, payload=enrich)
    return {"prod": prod, "staging": staging, "churn": churn}


def version_item(version):
    return {
        "model": version.model.name,
        "version": version.version,
        "stage": version.stage,
        "artifact_digest": version.artifact_digest,
    }


def deployment_item(deployment):
    deployment = Deployment.objects.select_related("model_version__model").get(pk=deployment.pk)
    return {
        "id": deployment.pk,
        "model": deployment.model_version.model.name,
        "version": deployment.model_version.version,
        "environment": deployment.environment,
        "endpoint": deployment.endpoint,
        "deployed_at": deployment.deployed_at.isoformat(),
    }


def impact_body(dataset, versions, deployments):
    return {
        "dataset": {"id": node_id(*dataset), "namespace": dataset[1], "name": dataset[2]},
        "model_versions": [version_item(version) for version in versions],
        "deployments": [deployment_item(deployment) for deployment in deployments],
        "truncated": False,
    }


def test_impact_lists_versions_and_active_deployments_downstream(graph, api, deployed):
    response = api(graph.officer).get(IMPACT, {"namespace": APPLICATIONS[1], "name": APPLICATIONS[2]})

    assert response.status_code == 200, response.json()
    assert response.json() == impact_body(APPLICATIONS, [graph.credit_v1], [deployed["prod"]])


def test_impact_of_a_table_that_feeds_two_models(graph, api, deployed):
    response = api(graph.officer).get(IMPACT, {"namespace": BUREAU[1], "name": BUREAU[2]})

    assert response.status_code == 200
    assert response.json() == impact_body(
        BUREAU, [graph.churn_v1, graph.credit_v1], [deployed["prod"], deployed["churn"]]
    )


@pytest.mark.parametrize(
    ("user", "models"),
    [
        ("ci_a", ["credit-default-pd"]),
        ("ci_b", ["churn-propensity"]),
        ("auditor", ["churn-propensity", "credit-default-pd"]),
    ],
)
def test_impact_shows_only_models_the_caller_may_view(graph, api, deployed, user, models):
    response = api(getattr(graph, user)).get(IMPACT, {"namespace": BUREAU[1], "name": BUREAU[2]})

    assert response.status_code == 200
    versions = [version for version in (graph.churn_v1, graph.credit_v1) if version.model.name in models]
    deployments = [item for item in (deployed["prod"], deployed["churn"]) if item.model_version.model.name in models]
    assert response.json() == impact_body(BUREAU, versions, deployments)


def test_impact_of_a_dataset_nothing_reads(graph, api, deployed):
    response = api(graph.officer).get(IMPACT, {"namespace": CREDIT_ARTIFACT[1], "name": CREDIT_ARTIFACT[2]})

    assert response.status_code == 200
    assert response.json() == impact_body(CREDIT_ARTIFACT, [graph.credit_v1], [deployed["prod"]])


def test_impact_of_an_unknown_dataset_is_not_found(graph, api):
    response = api(graph.officer).get(IMPACT, {"namespace": JOB_SPARK[1], "name": JOB_SPARK[2]})

    assert response.status_code == 404
    assert response.json()["code"] == "lineage_node_not_found"


def test_impact_costs_the_same_queries_for_one_or_many_deployments(graph, api, deployed):
    client = api(graph.officer)
    params = {"namespace": BUREAU[1], "name": BUREAU[2]}
    client.get(IMPACT, params)  # the token's first use is bookkeeping
    with CaptureQueriesContext(connection) as few:
        assert client.get(IMPACT, params).status_code == 200
    for environment in ("prod-ap", "prod-sa", "prod-af"):
        deployment_record(actor=graph.ci_a, version=graph.credit_v1, environment=environment)

    with CaptureQueriesContext(connection) as many:
        response = client.get(IMPACT, params)

    assert len(response.json()["deployments"]) == 5
    assert len(many.captured_queries) == len(few.captured_queries)


def test_queries_write_nothing(graph, api, deployed):
    client = api(graph.officer)
    client.get(GRAPH, query(CREDIT_MV))
    before = lineage_state()

    client.get(GRAPH, {**query(BUREAU), "direction": "both"})
    client.get(IMPACT, {"namespace": BUREAU[1], "name": BUREAU[2]})

    assert lineage_state() == before
