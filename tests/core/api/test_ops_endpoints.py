"""Operations endpoints (/healthz, /readyz, /metrics) and the API's schema and docs pages."""

import re

from django.conf import settings
from django.contrib.staticfiles import finders
from prometheus_client.parser import text_string_to_metric_families

MODEL_DETAIL_ROUTE = "api/v1/models/(?P<name>[a-z0-9][a-z0-9-]{0,99})/?$"


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client, db):
    response = client.get("/readyz")

    assert response.status_code == 200
    expected = {"database": "ok"}
    if settings.CELERY_BROKER_URL:
        expected["broker"] = "ok"
    assert response.json() == {"status": "ok", "checks": expected}


def _requests_total(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name == "modelgov_http_requests":
            for sample in family.samples:
                if sample.name == "modelgov_http_requests_total":
                    labels = sample.labels
                    samples[(labels["method"], labels["endpoint"], labels["status"])] = sample.value
    return samples


def test_metrics_count_requests_per_route_pattern(world, api, client):
    reader = api(world.owner_a)
    before = _requests_total(client)

    assert reader.get("/api/v1/models/model-a/").status_code == 200
    assert reader.get("/api/v1/models/model-a").status_code == 200
    assert reader.get("/api/v1/models/model-b/").status_code == 404
    after = _requests_total(client)

    ok, not_found = ("GET", MODEL_DETAIL_ROUTE, "200"), ("GET", MODEL_DETAIL_ROUTE, "404")
    assert after[ok] - before.get(ok, 0) == 2
    assert after[not_found] - before.get(not_found, 0) == 1
    assert not [key for key in after if "model-a" in key[1] or "model-b" in key[1]]


def test_metrics_label_unmatched_addresses_as_one_series(client, db):
    before = _requests_total(client).get(("GET", "unmatched", "404"), 0)

    client.get("/no/such/address/1")
    client.get("/no/such/address/2")

    assert _requests_total(client)[("GET", "unmatched", "404")] - before == 2


def _healthz_latency_count(client):
    text = client.get("/metrics").content.decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    histogram = families["modelgov_http_request_duration_seconds"]
    assert histogram.type == "histogram"
    counts = [
        sample.value
        for sample in histogram.samples
        if sample.name.endswith("_count") and sample.labels == {"method": "GET", "endpoint": "healthz"}
    ]
    return counts[0] if counts else 0


def test_metrics_expose_a_latency_histogram_per_route(client):
    before = _healthz_latency_count(client)

    client.get("/healthz")
    client.get("/healthz")

    assert _healthz_latency_count(client) - before == 2


def test_openapi_schema_documents_the_inventory_api(client, db):
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "modelgov API"
    inventory = {
        "/api/v1/models/": ["get", "post"],
        "/api/v1/models/{name}/": ["get", "patch"],
        "/api/v1/models/{name}/versions/": ["get", "post"],
        "/api/v1/models/{name}/versions/{version}/": ["get"],
    }
    operations = {"get", "post", "patch", "put", "delete"}
    assert {path: sorted(set(document["paths"].get(path, {})) & operations) for path in inventory} == inventory
    operation = document["paths"]["/api/v1/models/"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RegisteredModelInputRequest"
    }
    assert "201" in operation["responses"]


def test_openapi_schema_default_format_is_yaml(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    assert response.content.decode().startswith("openapi: 3.")


def test_docs_page_uses_only_local_assets(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    ]
    for asset in assets:
        assert finders.find(asset.removeprefix(settings.STATIC_URL)) is not None, asset
    assert '"/api/schema/"' in html


def test_redoc_page_uses_only_local_assets(client, db):
    """The stock Redoc page links Google Fonts; ours loads nothing from outside (air-gapped installs)."""
    response = client.get("/api/redoc/")

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets == ["/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"]
    assert finders.find(assets[0].removeprefix(settings.STATIC_URL)) is not None
    assert "/api/schema/" in html
