"""hooks.client.ModelgovClient against a live server: typed errors carry the status and the code of
the error contract; an unreachable server is a TransportError."""

import json
from pathlib import Path

import pytest

from core.signing import KeyPurpose, public_key_pem, service_public_key
from governance.services import api_token_create
from hooks.client import ApiError, ModelgovClient, TransportError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "openlineage"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_refusals_are_api_errors_with_status_code_and_extra(world, live_server, transactional_db):
    # One live-server test for every refusal: each transactional test costs a flush of the database.
    token = api_token_create(actor=None, user=world.ci_b, name="client", expires_at=None).secret
    client = ModelgovClient(live_server.url, token)

    with pytest.raises(ApiError) as not_found:
        client.request("GET", "/api/v1/models/no-such-model/")
    with pytest.raises(ApiError) as bad_stage:
        client.gate(
            model="model-b", version=1, target_stage="archived", artifact_digest=world.version_b1.artifact_digest
        )
    with pytest.raises(ApiError) as bad_token:
        ModelgovClient(live_server.url, "mg_not-a-real-token").request("GET", "/api/v1/models/")

    error = not_found.value
    assert (error.status, error.code, error.message, error.extra) == (
        404,
        "model_not_found",
        "No model named 'no-such-model'.",
        {"model": "no-such-model"},
    )
    assert str(error) == "404 model_not_found: No model named 'no-such-model'."
    assert (bad_stage.value.status, bad_stage.value.code, bad_stage.value.extra) == (
        400,
        "invalid_stage",
        {"target_stage": "archived"},
    )
    assert (bad_token.value.status, bad_token.value.code, bad_token.value.message) == (
        401,
        "token_invalid",
        "Unknown token.",
    )
    # The unauthenticated key listing answers too, with the service's gate key.
    assert client.service_keys()["gate_decision"] == public_key_pem(service_public_key(KeyPurpose.GATE_DECISION))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_lineage_through_the_client(world, live_server, transactional_db):
    token = api_token_create(actor=None, user=world.ci_a, name="client", expires_at=None).secret
    client = ModelgovClient(live_server.url, token)
    event = json.loads((FIXTURES / "airflow_credit_features_complete.json").read_text(encoding="utf-8"))

    first = client.send_lineage_event(event)
    again = client.send_lineage_event(event)
    graph = client.lineage_graph(
        kind="dataset", namespace="s3://modelgov-demo-features", name="credit/applicant_features/2026-10-31", depth=2
    )
    impact = client.lineage_impact(namespace="postgres://warehouse.internal:5432", name="credit.public.applications")

    assert (first["created"], first["kind"], again["created"], again["event_sha256"]) == (
        True,
        "run",
        False,
        first["event_sha256"],
    )
    names = {(node["kind"], node["name"], node["depth"]) for node in graph["nodes"]}
    assert names == {
        ("dataset", "credit/applicant_features/2026-10-31", 0),
        ("run", event["run"]["runId"].lower(), 1),
        ("job", "credit_features.build_applicant_features", 2),
        ("dataset", "credit.public.applications", 2),
        ("dataset", "credit.public.bureau_reports", 2),
    }
    assert (graph["direction"], graph["depth"], graph["truncated"], len(graph["edges"])) == ("upstream", 2, False, 4)
    assert impact == {
        "dataset": {
            "id": impact["dataset"]["id"],
            "namespace": "postgres://warehouse.internal:5432",
            "name": "credit.public.applications",
        },
        "model_versions": [],
        "deployments": [],
        "truncated": False,
    }
    with pytest.raises(ApiError) as refused:
        client.lineage_graph(kind="dataset", namespace="nowhere://", name="nothing")
    assert (refused.value.status, refused.value.code) == (404, "lineage_node_not_found")


def test_a_closed_port_is_a_transport_error(closed_port):
    client = ModelgovClient(f"http://127.0.0.1:{closed_port}", "mg_any-token", timeout=5)

    with pytest.raises(TransportError, match=rf"^cannot reach http://127\.0\.0\.1:{closed_port}: "):
        client.request("GET", "/api/v1/models/")


def test_a_url_without_a_scheme_is_refused():
    with pytest.raises(ValueError, match=r"^the modelgov URL must start with http:// or https://$"):
        ModelgovClient("127.0.0.1:8000", None)
