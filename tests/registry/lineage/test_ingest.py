"""POST /api/v1/lineage: the recorded OpenLineage events are stored exactly, build the graph, are logged
once, and a replay creates nothing."""

import copy
import json
from datetime import datetime

import pytest

from hooks.manifest import sign_manifest
from registry.models import LineageEdge, LineageEvent, LineageNode
from registry.services import model_version_register
from tests.factories import make_manifest, make_model, manifest_digest, team_key
from tests.helpers import audit_entries_after, last_audit_id

from .support import (
    APPLICANT_FEATURES,
    APPLICATIONS,
    BUREAU,
    CHURN_FEATURES,
    CHURN_MV,
    CHURN_RUN_ID,
    CREDIT_ARTIFACT,
    CREDIT_MV,
    EVENT_FILES,
    JOB_CHURN_TRAIN,
    JOB_DBT,
    JOB_FEATURES,
    JOB_SPARK,
    RUN_CHURN_TRAIN,
    RUN_DBT,
    RUN_FEATURES,
    RUN_SPARK,
    SPARK_RUN_ID,
    SUBSCRIPTIONS,
    TICKETS,
    graph_edges,
    graph_nodes,
    lineage_state,
    recorded_event,
    sha256_of_payload,
)

URL = "/api/v1/lineage"

# What each recorded event adds to the world's graph (which holds only the versions' nodes), and the
# LineageEvent columns it is stored with: (kind, event_type, run_id, job_namespace, job_name).
EXPECTED = {
    "airflow_churn_train_complete.json": (
        {JOB_CHURN_TRAIN, RUN_CHURN_TRAIN, CHURN_FEATURES},
        {(JOB_CHURN_TRAIN, RUN_CHURN_TRAIN), (CHURN_FEATURES, RUN_CHURN_TRAIN), (RUN_CHURN_TRAIN, CHURN_MV)},
        ("run", "COMPLETE", CHURN_RUN_ID, JOB_CHURN_TRAIN[1], JOB_CHURN_TRAIN[2]),
    ),
    "airflow_credit_features_complete.json": (
        {JOB_FEATURES, RUN_FEATURES, APPLICATIONS, BUREAU, APPLICANT_FEATURES},
        {
            (JOB_FEATURES, RUN_FEATURES),
            (APPLICATIONS, RUN_FEATURES),
            (BUREAU, RUN_FEATURES),
            (RUN_FEATURES, APPLICANT_FEATURES),
        },
        ("run", "COMPLETE", RUN_FEATURES[2], JOB_FEATURES[1], JOB_FEATURES[2]),
    ),
    "airflow_credit_features_start.json": (
        {JOB_FEATURES, RUN_FEATURES, APPLICATIONS, BUREAU},
        {(JOB_FEATURES, RUN_FEATURES), (APPLICATIONS, RUN_FEATURES), (BUREAU, RUN_FEATURES)},
        ("run", "START", RUN_FEATURES[2], JOB_FEATURES[1], JOB_FEATURES[2]),
    ),
    "dataset_event_bureau_reports.json": ({BUREAU}, set(), ("dataset", "", "", "", "")),
    "dbt_churn_features_complete.json": (
        {JOB_DBT, RUN_DBT, SUBSCRIPTIONS, TICKETS, CHURN_FEATURES},
        {(JOB_DBT, RUN_DBT), (SUBSCRIPTIONS, RUN_DBT), (TICKETS, RUN_DBT), (RUN_DBT, CHURN_FEATURES)},
        ("run", "COMPLETE", RUN_DBT[2], JOB_DBT[1], JOB_DBT[2]),
    ),
    "spark_credit_default_pd_train_complete.json": (
        {JOB_SPARK, RUN_SPARK, APPLICANT_FEATURES, CREDIT_ARTIFACT},
        {
            (JOB_SPARK, RUN_SPARK),
            (APPLICANT_FEATURES, RUN_SPARK),
            (RUN_SPARK, CREDIT_ARTIFACT),
            (RUN_SPARK, CREDIT_MV),
            (CREDIT_ARTIFACT, CREDIT_MV),
        },
        ("run", "COMPLETE", SPARK_RUN_ID, JOB_SPARK[1], JOB_SPARK[2]),
    ),
}

# The graph once every recorded event is in.
ALL_NODES = set().union(*(nodes for nodes, _, _ in EXPECTED.values()))
ALL_EDGES = set().union(*(edges for _, edges, _ in EXPECTED.values()))


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_ingested(entry, *, event, actor, payload):
    """``entry`` is the LINEAGE_EVENT_INGESTED entry of ``event``, which ``actor`` sent as ``payload``."""
    assert entry.event_type == "LINEAGE_EVENT_INGESTED"
    assert (entry.actor_id, entry.actor_name) == (actor.pk, actor.username)
    assert (entry.subject_type, entry.subject_id, entry.subject_repr) == (
        "registry.LineageEvent",
        str(event.pk),
        f"{event.kind} event {event.event_hash[:12]}",
    )
    assert entry.model_name == ""
    assert entry.before is None
    job = payload.get("job")
    assert entry.after == {
        "event_sha256": sha256_of_payload(payload),
        "kind": event.kind,
        "event_type": event.event_type,
        "job": f"{job['namespace']}/{job['name']}" if job else "",
        "run_id": event.run_id,
        "producer": payload["producer"],
    }


def test_the_world_graph_holds_only_the_versions(world):
    assert graph_nodes() == {
        ("model_version", "modelgov", "model-a/1"),
        ("model_version", "modelgov", "model-b/1"),
        CREDIT_MV,
        CHURN_MV,
    }
    assert graph_edges() == set()


@pytest.mark.parametrize("name", EVENT_FILES)
def test_a_recorded_event_is_stored_exactly_and_builds_the_graph(world, api, name):
    client = api(world.ci_a)
    payload = recorded_event(name)
    nodes_before, edges_before = graph_nodes(), graph_edges()
    last = last_audit_id()

    response = client.post(URL, payload, format="json")

    assert response.status_code == 201, response.json()
    digest = sha256_of_payload(payload)
    kind, event_type, run_id, job_namespace, job_name = EXPECTED[name][2]
    assert response.json() == {"event_sha256": digest, "kind": kind, "created": True}
    event = LineageEvent.objects.get()
    assert event.payload == payload
    assert (event.event_hash, event.kind, event.event_type, event.run_id) == (digest, kind, event_type, run_id)
    assert (event.job_namespace, event.job_name, event.producer) == (job_namespace, job_name, payload["producer"])
    assert event.event_time == parse_time(payload["eventTime"])
    assert event.received_by == world.ci_a
    new_nodes, new_edges, _ = EXPECTED[name]
    assert graph_nodes() == nodes_before | new_nodes
    assert graph_edges() == edges_before | new_edges
    [entry] = audit_entries_after(last)
    assert_ingested(entry, event=event, actor=world.ci_a, payload=payload)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_the_same_event_again_creates_nothing(world, api, name):
    client = api(world.ci_a)
    payload = recorded_event(name)
    first = client.post(URL, payload, format="json")
    assert first.status_code == 201
    before = lineage_state()

    again = client.post(URL, payload, format="json")

    assert again.status_code == 200, again.json()
    assert again.json() == {"event_sha256": sha256_of_payload(payload), "kind": first.json()["kind"], "created": False}
    assert lineage_state() == before


def test_the_same_event_reformatted_is_the_same_event(world, api):
    client = api(world.ci_b)
    payload = recorded_event("dbt_churn_features_complete.json")
    assert client.post(URL, payload, format="json").status_code == 201
    before = lineage_state()
    reordered = json.dumps(dict(reversed(list(payload.items()))), indent=4).encode()

    response = client.post(URL, reordered, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["created"] is False
    assert lineage_state() == before


def test_every_recorded_event_builds_the_whole_graph(world, api):
    client = api(world.ci_a)
    last = last_audit_id()

    statuses = [client.post(URL, recorded_event(name), format="json").status_code for name in EVENT_FILES]

    assert statuses == [201] * len(EVENT_FILES)
    versions = {("model_version", "modelgov", "model-a/1"), ("model_version", "modelgov", "model-b/1")}
    assert graph_nodes() == ALL_NODES | versions | {CREDIT_MV, CHURN_MV}
    assert graph_edges() == ALL_EDGES
    assert (len(ALL_NODES), len(ALL_EDGES)) == (15, 16)
    assert [entry.event_type for entry in audit_entries_after(last)] == ["LINEAGE_EVENT_INGESTED"] * 6
    assert sorted(entry.after["event_sha256"] for entry in audit_entries_after(last)) == sorted(
        sha256_of_payload(recorded_event(name)) for name in EVENT_FILES
    )
    # The DatasetEvent's schema (three fields) is the bureau table's latest one.
    bureau = LineageNode.objects.get(kind="dataset", namespace=BUREAU[1], name=BUREAU[2])
    expected = recorded_event("dataset_event_bureau_reports.json")["dataset"]["facets"]
    assert bureau.facets == expected

    before = lineage_state()
    replayed = [client.post(URL, recorded_event(name), format="json") for name in EVENT_FILES]
    assert [(item.status_code, item.json()["created"]) for item in replayed] == [(200, False)] * 6
    assert lineage_state() == before


def job_event():
    return {
        "eventTime": "2026-11-05T12:00:00+01:00",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.26.0/integration/dbt",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
        "job": {"namespace": "dbt://analytics", "name": "analytics.marts.customer_ltv"},
        "inputs": [{"namespace": "snowflake://acme.eu-west-1", "name": "ANALYTICS.MARTS.CUSTOMER_CHURN_FEATURES"}],
        "outputs": [{"namespace": "snowflake://acme.eu-west-1", "name": "ANALYTICS.MARTS.CUSTOMER_LTV"}],
    }


def test_a_job_event_links_its_datasets_through_the_job(world, api):
    client = api(world.officer)
    payload = job_event()
    nodes_before = graph_nodes()
    last = last_audit_id()

    response = client.post(URL, payload, format="json")

    assert response.status_code == 201, response.json()
    assert response.json() == {"event_sha256": sha256_of_payload(payload), "kind": "job", "created": True}
    event = LineageEvent.objects.get()
    assert event.payload == payload
    assert (event.kind, event.event_type, event.run_id) == ("job", "", "")
    assert (event.job_namespace, event.job_name) == ("dbt://analytics", "analytics.marts.customer_ltv")
    assert event.event_time == parse_time("2026-11-05T11:00:00Z")
    job = ("job", "dbt://analytics", "analytics.marts.customer_ltv")
    ltv = ("dataset", "snowflake://acme.eu-west-1", "ANALYTICS.MARTS.CUSTOMER_LTV")
    assert graph_nodes() == nodes_before | {job, CHURN_FEATURES, ltv}
    assert graph_edges() == {(CHURN_FEATURES, job), (job, ltv)}
    [entry] = audit_entries_after(last)
    assert_ingested(entry, event=event, actor=world.officer, payload=payload)


def test_a_training_run_named_in_upper_case_still_links_its_version(world, api):
    """A run id is a UUID: 01927758-D2BC-... and 01927758-d2bc-... are the same run."""
    model = make_model(owner=world.owner_a, team=world.team_a, name="credit-upper")
    private, key = team_key(world.team_a)
    manifest = make_manifest("upper")
    version = model_version_register(
        actor=world.ci_a,
        model=model,
        artifact_uri="s3://bucket/credit-upper/1",
        signature=sign_manifest(model_name=model.name, manifest=manifest, private_key=private),
        signing_key=key.fingerprint,
        training_run_id="0192FFFF-AAAA-7BBB-8CCC-DDDDDDDDDDDD",
    )
    payload = recorded_event("spark_credit_default_pd_train_complete.json")
    payload["run"]["runId"] = "0192ffff-aaaa-7bbb-8ccc-dddddddddddd"
    payload["outputs"] = []

    response = api(world.ci_a).post(URL, payload, format="json")

    assert response.status_code == 201
    run = ("run", "spark://ml-cluster", "0192ffff-aaaa-7bbb-8ccc-dddddddddddd")
    assert (run, ("model_version", "modelgov", "credit-upper/1")) in graph_edges()
    assert version.lineage_node.in_edges.count() == 1


def test_a_model_artifact_seen_before_its_version_is_registered_is_linked_at_registration(world, api):
    """Training emits its COMPLETE event before CI registers what it produced: the MODEL output
    dataset carrying the digest must end up linked to the version all the same."""
    model = make_model(owner=world.owner_a, team=world.team_a, name="credit-late")
    manifest = make_manifest("late")
    private, key = team_key(world.team_a)
    signature = sign_manifest(model_name=model.name, manifest=manifest, private_key=private)
    payload = recorded_event("spark_credit_default_pd_train_complete.json")
    payload["run"]["runId"] = "0192eeee-0000-7000-8000-000000000001"
    payload["outputs"][0]["name"] = "credit-late/1"
    payload["outputs"][0]["facets"]["datasetVersion"]["datasetVersion"] = manifest_digest(manifest)
    assert api(world.ci_a).post(URL, payload, format="json").status_code == 201

    model_version_register(
        actor=world.ci_a,
        model=model,
        artifact_uri="s3://modelgov-demo-artifacts/credit-late/1",
        signature=signature,
        signing_key=key.fingerprint,
        training_run_id="0192eeee-0000-7000-8000-000000000001",
    )

    late = ("model_version", "modelgov", "credit-late/1")
    run = ("run", "spark://ml-cluster", "0192eeee-0000-7000-8000-000000000001")
    artifact = ("dataset", "s3://modelgov-demo-artifacts", "credit-late/1")
    assert {(source, target) for source, target in graph_edges() if target == late} == {(run, late), (artifact, late)}


# --- refusals -----------------------------------------------------------------------------------------------------


def broken(name, change):
    payload = copy.deepcopy(recorded_event(name))
    change(payload)
    return payload


def _drop_run_id(payload):
    del payload["run"]["runId"]


def _set(path, value):
    def change(payload):
        target = payload
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _drop_facet_producer(payload):
    del payload["inputs"][0]["facets"]["schema"]["_producer"]


def _drop(key):
    def change(payload):
        del payload[key]

    return change


AIRFLOW = "airflow_credit_features_complete.json"

INVALID = [
    pytest.param(broken(AIRFLOW, _drop_run_id), "$.run", id="missing-runId"),
    pytest.param(broken(AIRFLOW, _set(["run", "runId"], "not-a-uuid")), "$.run.runId", id="bad-runId"),
    pytest.param(broken(AIRFLOW, _set(["run", "runId"], 42)), "$.run.runId", id="runId-not-a-string"),
    pytest.param(broken(AIRFLOW, _set(["eventType"], "DONE")), "$.eventType", id="eventType-DONE"),
    pytest.param(broken(AIRFLOW, _drop_facet_producer), "$.inputs[0].facets.schema", id="facet-without-producer"),
    pytest.param(broken(AIRFLOW, _set(["eventTime"], "2026-11-01T02:14:41.877")), "$.eventTime", id="eventTime-naive"),
    pytest.param(broken(AIRFLOW, _set(["eventTime"], "yesterday at noon")), "$.eventTime", id="eventTime-not-iso"),
    pytest.param(broken(AIRFLOW, _drop("producer")), "$", id="missing-producer"),
    pytest.param(broken(AIRFLOW, _set(["producer"], "airflow")), "$.producer", id="producer-not-a-uri"),
    pytest.param(broken(AIRFLOW, _set(["job", "name"], "")), "$.job.name", id="empty-job-name"),
    pytest.param(broken(AIRFLOW, _set(["inputs"], {"name": "x"})), "$.inputs", id="inputs-not-a-list"),
    pytest.param(
        broken(AIRFLOW, _set(["outputs", 0, "namespace"], 7)), "$.outputs[0].namespace", id="namespace-not-a-string"
    ),
    pytest.param(
        broken("dataset_event_bureau_reports.json", _set(["dataset"], {"name": "x"})),
        "$.dataset",
        id="dataset-without-namespace",
    ),
    pytest.param([recorded_event(AIRFLOW)], "$", id="a-list"),
    pytest.param("COMPLETE", "$", id="a-string"),
    pytest.param({"eventTime": "2026-11-01T02:14:41Z", "producer": "https://x.org/p"}, "$", id="no-run-job-dataset"),
]


@pytest.mark.parametrize(("payload", "path"), INVALID)
def test_an_event_that_breaks_the_schema_is_refused_naming_the_path(world, api, payload, path):
    client = api(world.ci_a)

    with_state = lineage_state()
    response = client.post(URL, payload, format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid_openlineage_event"
    assert body["extra"]["path"] == path
    assert body["message"]
    assert lineage_state() == with_state


def test_a_run_event_without_its_run_is_not_taken_for_a_job_event(world, api):
    """Its schemaURL and eventType say RunEvent, which requires ``run``: it is refused, not stored as a
    JobEvent with a stray eventType."""
    client = api(world.ci_a)
    payload = broken(AIRFLOW, _drop("run"))
    assert payload["schemaURL"].endswith("#/$defs/RunEvent")
    before = lineage_state()

    response = client.post(URL, payload, format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["code"], body["extra"]["path"]) == ("invalid_openlineage_event", "$")
    assert lineage_state() == before


def test_a_number_out_of_range_is_malformed_json(world, api):
    client = api(world.ci_a)
    client.raise_request_exception = False  # a server error is a response here, not a test crash
    raw = json.dumps(recorded_event(AIRFLOW)).replace('"processingType": "BATCH"', '"processingType": 1e400')
    before = lineage_state()

    response = client.post(URL, raw.encode(), content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "malformed_json"
    assert lineage_state() == before


def test_a_null_character_is_refused_naming_its_path(world, api):
    client = api(world.ci_a)
    client.raise_request_exception = False
    payload = broken(AIRFLOW, _set(["job", "facets", "jobType", "integration"], "AIR\x00FLOW"))
    before = lineage_state()

    response = client.post(URL, payload, format="json")

    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert (body["code"], body["extra"]["path"]) == ("invalid_openlineage_event", "$.job.facets.jobType.integration")
    assert lineage_state() == before


def test_an_auditor_may_not_send_events(world, api):
    client = api(world.auditor)
    before = lineage_state()

    response = client.post(URL, recorded_event(AIRFLOW), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["extra"] == {"permission": "add_lineageevent"}
    assert lineage_state() == before


def test_anonymous_may_not_send_events(world, api):
    before = lineage_state()

    response = api(None).post(URL, recorded_event(AIRFLOW), format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert lineage_state() == before


def test_nothing_is_stored_by_a_refused_event_even_beside_stored_ones(world, api):
    client = api(world.ci_a)
    assert client.post(URL, recorded_event(AIRFLOW), format="json").status_code == 201
    before = lineage_state()

    response = client.post(URL, broken(AIRFLOW, _set(["eventType"], "DONE")), format="json")

    assert response.status_code == 400
    assert lineage_state() == before
    assert LineageEvent.objects.count() == 1
    assert LineageEdge.objects.count() == 4
