"""Who may do what on the inventory API, endpoint by endpoint.

Callers: anonymous, team-b's CI token (another team's pipeline), the auditor, model-a's owner, the
compliance officer and a validator. The subject is model-a (team-a). A refused call writes nothing.
"""

from typing import Any

import pytest

from registry.models import ModelVersion, RegisteredModel
from tests.factories import make_manifest, version_payload
from tests.helpers import audit_entries_after, last_audit_id, nothing_written

CALLERS = ["anonymous", "ci_b", "auditor", "owner_a", "officer", "validator"]

NOT_AUTHENTICATED = (401, "not_authenticated")
MODEL_NOT_FOUND = (404, "model_not_found")
DENIED = (403, "permission_denied")


def caller(world: Any, name: str) -> Any:
    return None if name == "anonymous" else getattr(world, name)


def _check_refusal(response: Any, expected: tuple[int, str], extra: dict[str, Any] | None = None) -> None:
    status, code = expected
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    if extra is not None:
        assert response.json()["extra"] == extra
    if status == 401:
        assert response["WWW-Authenticate"] == "Bearer"


LIST_EXPECTED = {
    "anonymous": NOT_AUTHENTICATED,
    "ci_b": ["model-b"],
    "auditor": ["model-a", "model-b"],
    "owner_a": ["model-a"],
    "officer": ["model-a", "model-b"],
    "validator": [],
}


@pytest.mark.parametrize("who", CALLERS)
def test_get_list(world, api, who):
    client = api(caller(world, who))

    with nothing_written():
        response = client.get("/api/v1/models/")

    expected = LIST_EXPECTED[who]
    if isinstance(expected, tuple):
        _check_refusal(response, expected, {})
        return
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == expected
    assert response.json()["count"] == len(expected)


CREATE_EXPECTED = {
    "anonymous": NOT_AUTHENTICATED,
    "ci_b": DENIED,
    "auditor": DENIED,
    "owner_a": 201,
    "officer": 201,
    "validator": DENIED,
}


@pytest.mark.parametrize("who", CALLERS)
def test_post_create(world, api, who):
    client = api(caller(world, who))
    body = {"name": "model-new", "team": "team-a", "risk_tier": "low"}
    expected = CREATE_EXPECTED[who]

    if expected != 201:
        with nothing_written():
            response = client.post("/api/v1/models/", body, format="json")
        extra = {} if expected == NOT_AUTHENTICATED else {"permission": "add_registeredmodel"}
        _check_refusal(response, expected, extra)
        assert not RegisteredModel.objects.filter(name="model-new").exists()
        return

    last = last_audit_id()
    response = client.post("/api/v1/models/", body, format="json")
    assert response.status_code == 201, response.json()
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name, entry.model_name) == (
        "REGISTERED_MODEL_CREATED",
        getattr(world, who).username,
        "model-new",
    )


READ_EXPECTED = {
    "anonymous": NOT_AUTHENTICATED,
    "ci_b": MODEL_NOT_FOUND,
    "auditor": 200,
    "owner_a": 200,
    "officer": 200,
    "validator": MODEL_NOT_FOUND,
}


@pytest.mark.parametrize("who", CALLERS)
def test_get_detail(world, api, who):
    client = api(caller(world, who))

    with nothing_written():
        response = client.get("/api/v1/models/model-a/")

    expected = READ_EXPECTED[who]
    if expected == 200:
        assert response.status_code == 200
        assert response.json()["name"] == "model-a"
    else:
        _check_refusal(response, expected, {} if expected == NOT_AUTHENTICATED else {"model": "model-a"})


PATCH_EXPECTED = {
    "anonymous": NOT_AUTHENTICATED,
    "ci_b": MODEL_NOT_FOUND,
    "auditor": DENIED,
    "owner_a": 200,
    "officer": 200,
    "validator": MODEL_NOT_FOUND,
}


@pytest.mark.parametrize("who", CALLERS)
def test_patch_detail(world, api, who):
    client = api(caller(world, who))
    expected = PATCH_EXPECTED[who]

    if expected != 200:
        with nothing_written():
            response = client.patch("/api/v1/models/model-a/", {"display_name": "Changed"}, format="json")
        extra = {
            NOT_AUTHENTICATED: {},
            MODEL_NOT_FOUND: {"model": "model-a"},
            DENIED: {"model": "model-a", "permission": "change_registeredmodel"},
        }[expected]
        _check_refusal(response, expected, extra)
        return

    last = last_audit_id()
    response = client.patch("/api/v1/models/model-a/", {"display_name": "Changed"}, format="json")
    assert response.status_code == 200
    assert RegisteredModel.objects.get(name="model-a").display_name == "Changed"
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name) == ("REGISTERED_MODEL_UPDATED", getattr(world, who).username)
    assert (entry.before, entry.after) == ({"display_name": ""}, {"display_name": "Changed"})


@pytest.mark.parametrize("who", CALLERS)
def test_get_versions(world, api, who):
    client = api(caller(world, who))

    with nothing_written():
        response = client.get("/api/v1/models/model-a/versions/")

    expected = READ_EXPECTED[who]
    if expected == 200:
        assert response.status_code == 200
        assert [item["version"] for item in response.json()["results"]] == [1]
    else:
        _check_refusal(response, expected, {} if expected == NOT_AUTHENTICATED else {"model": "model-a"})


REGISTER_EXPECTED = {
    "anonymous": NOT_AUTHENTICATED,
    "ci_b": MODEL_NOT_FOUND,
    "auditor": DENIED,
    "owner_a": 201,
    "officer": DENIED,  # officers govern; artifacts come from the team's pipelines
    "validator": MODEL_NOT_FOUND,
}


@pytest.mark.parametrize("who", CALLERS)
def test_post_versions(world, api, who):
    client = api(caller(world, who))
    body = version_payload(model=world.model_a, manifest=make_manifest("matrix"))
    expected = REGISTER_EXPECTED[who]

    if expected != 201:
        with nothing_written():
            response = client.post("/api/v1/models/model-a/versions/", body, format="json")
        extra = {
            NOT_AUTHENTICATED: {},
            MODEL_NOT_FOUND: {"model": "model-a"},
            DENIED: {"model": "model-a", "permission": "register_version"},
        }[expected]
        _check_refusal(response, expected, extra)
        return

    last = last_audit_id()
    response = client.post("/api/v1/models/model-a/versions/", body, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert ModelVersion.objects.filter(model=world.model_a).count() == 2
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name, entry.model_name) == (
        "MODEL_VERSION_REGISTERED",
        "owner-a",
        "model-a",
    )


@pytest.mark.parametrize("who", CALLERS)
def test_get_version_detail(world, api, who):
    client = api(caller(world, who))

    with nothing_written():
        response = client.get("/api/v1/models/model-a/versions/1")

    expected = READ_EXPECTED[who]
    if expected == 200:
        assert response.status_code == 200
        assert (response.json()["model"], response.json()["version"]) == ("model-a", 1)
    else:
        _check_refusal(response, expected, {} if expected == NOT_AUTHENTICATED else {"model": "model-a"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/models/model-b/"),
        ("get", "/api/v1/models/model-b/versions/"),
        ("get", "/api/v1/models/model-b/versions/1"),
        ("patch", "/api/v1/models/model-b/"),
        ("post", "/api/v1/models/model-b/versions/"),
    ],
)
def test_a_hidden_model_and_a_missing_one_look_the_same(world, api, method, path):
    client = api(world.ci_a)

    def call(address: str) -> Any:
        if method == "get":
            return client.get(address)
        return getattr(client, method)(address, {}, format="json")

    with nothing_written():
        hidden = call(path)
        missing = call(path.replace("model-b", "model-z"))

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "model_not_found"
    assert hidden.json()["message"].replace("model-b", "model-z") == missing.json()["message"]


def test_own_team_ci_token_registers_versions(world, api):
    client = api(world.ci_a)
    last = last_audit_id()

    response = client.post(
        "/api/v1/models/model-a/versions/",
        version_payload(model=world.model_a, manifest=make_manifest("ci")),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["created_by"] == "ci-a"
    [entry] = audit_entries_after(last)
    assert (entry.event_type, entry.actor_name) == ("MODEL_VERSION_REGISTERED", "ci-a")


def test_own_team_ci_token_cannot_create_models(world, api):
    client = api(world.ci_a)

    with nothing_written():
        response = client.post(
            "/api/v1/models/", {"name": "model-ci", "team": "team-a", "risk_tier": "low"}, format="json"
        )

    _check_refusal(response, DENIED, {"permission": "add_registeredmodel"})
