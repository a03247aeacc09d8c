"""X-Request-ID: taken from the caller when well formed, made up otherwise, echoed, and recorded in
the audit entries the request writes."""

import re

import pytest

from core.context import current_request_id
from tests.helpers import audit_entries_after, last_audit_id

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _patch(client, **headers):
    last = last_audit_id()
    response = client.patch("/api/v1/models/model-a/", {"description": "changed"}, format="json", **headers)
    assert response.status_code == 200, response.json()
    [entry] = audit_entries_after(last)
    return response, entry


@pytest.mark.parametrize("supplied", ["ci-run-42.build:7", "a", "A" * 64, "0f9e_x-y.z:1"])
def test_well_formed_request_id_is_recorded_and_echoed(world, api, supplied):
    response, entry = _patch(api(world.owner_a), HTTP_X_REQUEST_ID=supplied)

    assert response["X-Request-ID"] == supplied
    assert entry.request_id == supplied


@pytest.mark.parametrize(
    "supplied",
    ["", "has space", "A" * 65, "abc\n", "abc\nX-Injected: 1", "semi;colon", "ünïcode", "slash/"],
)
def test_malformed_request_id_is_replaced(world, api, supplied):
    response, entry = _patch(api(world.owner_a), HTTP_X_REQUEST_ID=supplied)

    assert HEX32.match(response["X-Request-ID"])
    assert entry.request_id == response["X-Request-ID"]


def test_request_id_is_made_when_none_is_sent(world, api):
    client = api(world.owner_a)

    first, entry = _patch(client)
    second = client.get("/api/v1/models/model-a/")

    assert HEX32.match(first["X-Request-ID"])
    assert entry.request_id == first["X-Request-ID"]
    assert HEX32.match(second["X-Request-ID"])
    assert second["X-Request-ID"] != first["X-Request-ID"]


def test_request_id_does_not_outlive_its_request(world, api):
    api(world.owner_a).get("/api/v1/models/", HTTP_X_REQUEST_ID="leak-check")

    assert current_request_id() is None


def test_error_responses_carry_the_request_id(world, api):
    response = api(None).get("/api/v1/models/", HTTP_X_REQUEST_ID="anon-1")

    assert response.status_code == 401
    assert response["X-Request-ID"] == "anon-1"
