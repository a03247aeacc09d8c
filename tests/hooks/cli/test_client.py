"""hooks.client.ModelgovClient against a live server: typed errors carry the status and the code of
the error contract; an unreachable server is a TransportError."""

import pytest

from core.signing import KeyPurpose, public_key_pem, service_public_key
from governance.services import api_token_create
from hooks.client import ApiError, ModelgovClient, TransportError


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


def test_a_closed_port_is_a_transport_error(closed_port):
    client = ModelgovClient(f"http://127.0.0.1:{closed_port}", "mg_any-token", timeout=5)

    with pytest.raises(TransportError, match=rf"^cannot reach http://127\.0\.0\.1:{closed_port}: "):
        client.request("GET", "/api/v1/models/")


def test_a_url_without_a_scheme_is_refused():
    with pytest.raises(ValueError, match=r"^the modelgov URL must start with http:// or https://$"):
        ModelgovClient("127.0.0.1:8000", None)
