"""The one error contract: every error is {"code", "message", "extra"} with a 4xx for bad input,
and a refused request writes nothing."""

import json

import pytest

from tests.factories import make_manifest
from tests.helpers import nothing_written

ONE_MIB = 1024 * 1024

WRITES = [
    ("post", "/api/v1/models/"),
    ("patch", "/api/v1/models/model-a/"),
    ("post", "/api/v1/models/model-a/versions/"),
]


def send(client, method, path, body, content_type="application/json", **extra):
    return getattr(client, method)(path, data=body, content_type=content_type, **extra)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert sorted(body) == ["code", "extra", "message"]
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": ',
        b"{'name': 'single-quotes'}",
        b'{"name": "x",}',
        b"\xff\xfe{}",
        b'{"metrics": NaN}',
        b'{"metrics": Infinity}',
    ],
)
def test_malformed_json(world, api, method, path, raw):
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, method, path, raw)

    body = assert_error(response, 400, "malformed_json")
    assert body["message"].startswith("JSON parse error - ")
    assert body["extra"] == {}


def test_empty_body_is_an_empty_object(world, api):
    client = api(world.officer)

    with nothing_written():
        response = send(client, "post", "/api/v1/models/", b"")

    body = assert_error(response, 400, "validation_error")
    assert sorted(body["extra"]["fields"]) == ["name", "risk_tier", "team"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_out_of_range_number_is_malformed_json(world, api, method, path):
    raw = json.dumps({"artifact_uri": "s3://x", "manifest": make_manifest("inf")})[:-1] + ', "metrics": {"auc": 1e400}}'
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, method, path, raw.encode())

    body = assert_error(response, 400, "malformed_json")
    assert body["message"] == "JSON parse error - number out of range: 1e400"


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_deeply_nested_json_is_malformed_json(world, api, method, path):
    raw = b"[" * 100_000 + b"]" * 100_000
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, method, path, raw)

    body = assert_error(response, 400, "malformed_json")
    assert body["message"] == "JSON parse error - the document is nested too deeply"


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=xyz"],
)
def test_non_json_content_type_is_unsupported(world, api, method, path, content_type):
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, method, path, b"name=model-x&team=team-a", content_type=content_type)

    body = assert_error(response, 415, "unsupported_media_type")
    assert body == {
        "code": "unsupported_media_type",
        "message": f'Unsupported media type "{content_type}" in request.',
        "extra": {},
    }


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_body_over_one_mib_is_refused(world, api, method, path):
    raw = json.dumps({"name": "big", "team": "team-a", "risk_tier": "low", "description": "x" * ONE_MIB}).encode()
    assert len(raw) > ONE_MIB
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, method, path, raw)

    assert response.status_code == 413
    assert response.json() == {
        "code": "request_too_large",
        "message": "The request body is larger than the limit.",
        "extra": {"limit_bytes": ONE_MIB, "content_length": len(raw)},
    }


def test_body_just_under_the_limit_reaches_validation(world, api):
    description = "x" * (ONE_MIB - 200)
    raw = json.dumps({"name": "big", "team": "team-a", "risk_tier": "low", "description": description}).encode()
    assert len(raw) <= ONE_MIB
    client = api(world.officer)

    with nothing_written():
        response = send(client, "post", "/api/v1/models/", raw)

    body = assert_error(response, 400, "validation_error")
    assert body["extra"] == {"fields": {"description": ["Ensure this field has no more than 10000 characters."]}}


def test_non_numeric_content_length_is_malformed_request(world, api):
    client = api(world.owner_a)

    with nothing_written():
        response = send(client, "post", "/api/v1/models/", b"{}", CONTENT_LENGTH="twelve")

    assert response.status_code == 400
    assert response.json() == {
        "code": "malformed_request",
        "message": "Content-Length is not a number.",
        "extra": {},
    }


@pytest.mark.parametrize(
    ("method", "path", "verb"),
    [
        ("delete", "/api/v1/models/model-a/", "DELETE"),
        ("put", "/api/v1/models/model-a/", "PUT"),
        ("delete", "/api/v1/models/model-a/versions/1", "DELETE"),
        ("patch", "/api/v1/models/model-a/versions/1", "PATCH"),
        ("put", "/api/v1/models/", "PUT"),
    ],
)
def test_method_not_allowed(world, api, method, path, verb):
    client = api(world.officer)

    with nothing_written():
        response = getattr(client, method)(path, {}, format="json")

    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "message": f'Method "{verb}" not allowed.', "extra": {}}


def test_accept_other_than_json_is_not_acceptable(world, api):
    response = api(world.officer).get("/api/v1/models/", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json() == {
        "code": "not_acceptable",
        "message": "Could not satisfy the request Accept header.",
        "extra": {},
    }


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/models/", "/api/v1/models/model-a/versions/x"])
def test_unknown_address_is_a_json_not_found(world, api, path):
    response = api(world.officer).get(path)

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Nothing is found at this address.", "extra": {}}
