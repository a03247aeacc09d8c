"""/api/v1/deployments/: recording a version put into service (a node downstream of the version) and
retiring it, each logged; refusals write nothing."""

import pytest

from registry.models import Deployment, LineageEdge, LineageNode
from tests.helpers import audit_entries_after, last_audit_id

from .support import CREDIT_MV, graph_edges, node_id, nothing_written

URL = "/api/v1/deployments/"


def retire_url(deployment_id):
    return f"/api/v1/deployments/{deployment_id}/retire"


def iso(value):
    return value.isoformat().replace("+00:00", "Z")


def output(deployment, *, by):
    return {
        "id": deployment.pk,
        "model": deployment.model_version.model.name,
        "version": deployment.model_version.version,
        "environment": deployment.environment,
        "endpoint": deployment.endpoint,
        "deployed_by": by,
        "deployed_at": iso(deployment.deployed_at),
        "retired_at": iso(deployment.retired_at) if deployment.retired_at else None,
        "active": deployment.retired_at is None,
    }


BODY = {
    "model": "credit-default-pd",
    "version": 1,
    "environment": "prod-eu",
    "endpoint": "https://models.example.internal/credit-default-pd",
}


def test_record_a_deployment(world, api):
    client = api(world.ci_a)
    edges_before = graph_edges()
    last = last_audit_id()

    response = client.post(URL, BODY, format="json")

    assert response.status_code == 201, response.json()
    deployment = Deployment.objects.select_related("model_version__model").get()
    assert response.json() == output(deployment, by="ci-a")
    assert (deployment.model_version, deployment.deployed_by) == (world.credit_v1, world.ci_a)
    assert (deployment.environment, deployment.endpoint, deployment.retired_at) == (
        "prod-eu",
        BODY["endpoint"],
        None,
    )
    node = LineageNode.objects.get(deployment=deployment)
    assert (node.kind, node.namespace, node.name) == ("deployment", "prod-eu", f"credit-default-pd/1/{deployment.pk}")
    assert node.facets == {"endpoint": BODY["endpoint"]}
    key = (node.kind, node.namespace, node.name)
    assert graph_edges() == edges_before | {(CREDIT_MV, key)}
    [entry] = audit_entries_after(last)
    assert entry.event_type == "DEPLOYMENT_RECORDED"
    assert (entry.actor_id, entry.actor_name) == (world.ci_a.pk, "ci-a")
    assert (entry.subject_type, entry.subject_id, entry.subject_repr) == (
        "registry.Deployment",
        str(deployment.pk),
        "credit-default-pd v1 in prod-eu",
    )
    assert entry.model_name == "credit-default-pd"
    assert entry.before is None
    assert entry.after == {
        "model": "credit-default-pd",
        "version": 1,
        "environment": "prod-eu",
        "endpoint": BODY["endpoint"],
        "artifact_digest": world.credit_v1.artifact_digest,
    }


def test_the_endpoint_is_optional(world, api):
    response = api(world.owner_a).post(
        URL, {"model": "credit-default-pd", "version": 1, "environment": "batch"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["endpoint"] == ""
    assert LineageNode.objects.get(kind="deployment", namespace="batch").facets == {"endpoint": ""}


def test_retire_a_deployment(world, api):
    client = api(world.ci_a)
    deployment_id = client.post(URL, BODY, format="json").json()["id"]
    node = node_id("deployment", "prod-eu", f"credit-default-pd/1/{deployment_id}")
    edges_before = graph_edges()
    last = last_audit_id()

    response = client.post(retire_url(deployment_id))

    assert response.status_code == 200, response.json()
    deployment = Deployment.objects.select_related("model_version__model").get()
    assert deployment.retired_at is not None
    assert deployment.retired_by == world.ci_a
    assert response.json() == output(deployment, by="ci-a")
    assert response.json()["active"] is False
    # The node stays: what the deployment served is history.
    assert LineageNode.objects.get(deployment=deployment).pk == node
    assert graph_edges() == edges_before
    [entry] = audit_entries_after(last)
    assert entry.event_type == "DEPLOYMENT_RETIRED"
    assert (entry.actor_id, entry.subject_type, entry.subject_id) == (
        world.ci_a.pk,
        "registry.Deployment",
        str(deployment.pk),
    )
    assert entry.model_name == "credit-default-pd"
    assert entry.after == {"environment": "prod-eu", "retired_at": deployment.retired_at.isoformat()}


def test_retiring_twice_is_a_conflict(world, api):
    client = api(world.ci_a)
    deployment_id = client.post(URL, BODY, format="json").json()["id"]
    assert client.post(retire_url(deployment_id)).status_code == 200

    with nothing_written():
        response = client.post(retire_url(deployment_id))

    assert response.status_code == 409
    assert response.json() == {
        "code": "deployment_retired",
        "message": "This deployment is already retired.",
        "extra": {"deployment": deployment_id},
    }


def test_another_team_cannot_see_the_model(world, api):
    client = api(world.ci_b)

    with nothing_written():
        response = client.post(URL, BODY, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "model_not_found"
    assert response.json()["extra"] == {"model": "credit-default-pd"}


def test_another_team_cannot_retire(world, api):
    deployment_id = api(world.ci_a).post(URL, BODY, format="json").json()["id"]
    client = api(world.ci_b)

    with nothing_written():
        response = client.post(retire_url(deployment_id))

    assert response.status_code == 404
    assert response.json()["code"] == "deployment_not_found"


def test_an_auditor_cannot_record(world, api):
    client = api(world.auditor)

    with nothing_written():
        response = client.post(URL, BODY, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["extra"] == {"model": "credit-default-pd", "permission": "request_promotion"}


def test_an_auditor_cannot_retire(world, api):
    deployment_id = api(world.ci_a).post(URL, BODY, format="json").json()["id"]
    client = api(world.auditor)

    with nothing_written():
        response = client.post(retire_url(deployment_id))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Deployment.objects.get().retired_at is None


def test_anonymous_cannot_record(world, api):
    with nothing_written():
        response = api(None).post(URL, BODY, format="json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**BODY, "version": 9}, "model_version_not_found"),
        ({**BODY, "model": "no-such-model"}, "model_not_found"),
        ({**BODY, "environment": "prod eu"}, "validation_error"),
        ({**BODY, "region": "eu"}, "unknown_field"),
    ],
)
def test_bad_input_writes_nothing(world, api, body, code):
    client = api(world.ci_a)

    with nothing_written():
        response = client.post(URL, body, format="json")

    assert response.json()["code"] == code
    assert response.status_code in (400, 404)


def test_the_list_shows_the_callers_models_only(world, api):
    api(world.ci_a).post(URL, BODY, format="json")
    api(world.ci_b).post(URL, {"model": "churn-propensity", "version": 1, "environment": "prod-us"}, format="json")

    mine = api(world.ci_a).get(URL).json()
    everything = api(world.auditor).get(URL).json()

    assert [item["model"] for item in mine["results"]] == ["credit-default-pd"]
    assert sorted(item["model"] for item in everything["results"]) == ["churn-propensity", "credit-default-pd"]
    assert LineageEdge.objects.filter(target__kind="deployment").count() == 2
