"""The real openlineage-python client, configured as a pipeline would be, posting to a live server on
loopback with a modelgov token: what it sends is stored as sent and lands in the graph."""

import json
import uuid

from django.contrib.auth.models import Group
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from requests import Session

from governance.choices import Role
from governance.models import AuditEntry
from governance.services import api_token_create
from registry.models import LineageEvent
from tests.factories import UserFactory, make_model, make_version, role

from .support import graph_edges, graph_nodes, sha256_of_payload

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.40.0/client/python"


def test_the_openlineage_client_sends_a_run_event(transactional_db, live_server):
    team = Group.objects.create(name="team-ol")
    owner = UserFactory(username="owner-ol", groups=[role(Role.MODEL_OWNER), team])
    ci = UserFactory(username="ci-ol", groups=[role(Role.CI_PIPELINE), team])
    run_id = str(uuid.uuid4())
    model = make_model(owner=owner, team=team, name="ol-model")
    version = make_version(model=model, actor=ci, seed="ol-1", training_run_id=run_id)
    token = api_token_create(actor=None, user=ci, name="airflow", expires_at=None).secret
    wire = []  # the bodies the client put on the wire, as the server received them
    session = Session()
    session.hooks["response"].append(lambda response, **_: wire.append((response.status_code, response.request.body)))
    config = HttpConfig(
        url=live_server.url,
        session=session,
        endpoint="api/v1/lineage",
        timeout=10.0,
        auth=ApiKeyTokenProvider({"api_key": token}),
        retry={"total": 0},
    )
    client = OpenLineageClient(transport=HttpTransport(config))
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-05T10:15:00.000Z",
        run=Run(runId=run_id),
        job=Job(namespace="airflow://ol-team", name="ol_model.train"),
        producer=PRODUCER,
        inputs=[InputDataset(namespace="postgres://db:5432", name="public.features")],
        outputs=[OutputDataset(namespace="s3://ol-artifacts", name="ol-model/1")],
    )
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()

    serialized = json.loads(Serde.to_json(event))

    client.emit(event)

    [(status, body)] = wire
    sent = json.loads(body)
    assert status == 201
    # The client adds its own run facet (its version as a tag) to what Serde would write.
    assert {**sent, "run": {**sent["run"], "facets": {}}} == serialized
    assert list(sent["run"]["facets"]) == ["tags"]
    stored = LineageEvent.objects.get()
    assert stored.payload == sent
    assert (stored.kind, stored.event_type, stored.run_id, stored.received_by_id) == ("run", "COMPLETE", run_id, ci.pk)
    job = ("job", "airflow://ol-team", "ol_model.train")
    run = ("run", "airflow://ol-team", run_id)
    features = ("dataset", "postgres://db:5432", "public.features")
    artifact = ("dataset", "s3://ol-artifacts", "ol-model/1")
    version_node = ("model_version", "modelgov", "ol-model/1")
    assert graph_nodes() == {job, run, features, artifact, version_node}
    assert graph_edges() == {(job, run), (features, run), (run, artifact), (run, version_node)}
    [entry] = AuditEntry.objects.filter(id__gt=last)
    assert (entry.event_type, entry.actor_name, entry.subject_id) == ("LINEAGE_EVENT_INGESTED", "ci-ol", str(stored.pk))
    assert entry.after["event_sha256"] == sha256_of_payload(sent) == stored.event_hash
    assert version.lineage_node.in_edges.get().source.name == run_id

    client.emit(event)  # a retry of the same event: 200, nothing new

    assert [status for status, _ in wire] == [201, 200]
    assert LineageEvent.objects.count() == 1
    assert AuditEntry.objects.filter(id__gt=last).count() == 1
