"""A small client for the modelgov REST API, usable from any Python pipeline (Airflow, Kubeflow,
plain scripts). Standard library only, plus ``cryptography`` for signing manifests."""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_TIMEOUT = 30.0


class TransportError(Exception):
    """The server could not be reached or did not answer with JSON."""


@dataclass
class ApiError(Exception):
    """The server answered with an error body ``{"code", "message", "extra"}``."""

    status: int
    code: str
    message: str
    extra: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ModelgovClient:
    """``ModelgovClient(url, token)``; every method returns the decoded JSON body or raises."""

    def __init__(self, url: str, token: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the modelgov URL must start with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310 (http/https checked)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth and self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return self._decode(response.read(), response.status)
        except urllib.error.HTTPError as exc:
            payload = self._decode(exc.read(), exc.code)
            if isinstance(payload, dict) and "code" in payload:
                raise ApiError(
                    exc.code, str(payload["code"]), str(payload.get("message", "")), payload.get("extra") or {}
                ) from None
            raise ApiError(exc.code, "http_error", f"HTTP {exc.code}", {}) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from None

    def _object(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A call whose answer is a JSON object."""
        result: dict[str, Any] = self.request(method, path, body)
        return result

    @staticmethod
    def _decode(raw: bytes, status: int) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise TransportError(f"the server answered {status} with a body that is not JSON") from None

    def gate(
        self,
        *,
        model: str,
        version: int,
        target_stage: str,
        artifact_digest: str,
        pipeline: dict[str, Any] | None = None,
        dry_run: bool = False,
        promote: bool = False,
    ) -> dict[str, Any]:
        body = {
            "model": model,
            "version": version,
            "target_stage": target_stage,
            "artifact_digest": artifact_digest,
            "pipeline": pipeline or {},
            "dry_run": dry_run,
            "promote": promote,
        }
        return self._object("POST", "/api/v1/gate/promotions", body)

    def register(
        self,
        *,
        model: str,
        artifact_uri: str,
        signature: dict[str, Any],
        signing_key: str,
        training_run_id: str = "",
        metrics: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {
            "artifact_uri": artifact_uri,
            "signature": signature,
            "signing_key": signing_key,
            "training_run_id": training_run_id,
            "metrics": metrics or {},
            "parameters": parameters or {},
        }
        return self._object("POST", f"/api/v1/models/{model}/versions/", body)

    def request_promotion(self, *, model: str, version: int, target_stage: str, comment: str = "") -> dict[str, Any]:
        body = {"model": model, "version": version, "target_stage": target_stage, "comment": comment}
        return self._object("POST", "/api/v1/approvals/", body)

    def send_lineage_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST an OpenLineage RunEvent, DatasetEvent or JobEvent; ``created`` is False for a repeat."""
        return self._object("POST", "/api/v1/lineage", event)

    def lineage_graph(
        self,
        *,
        kind: str,
        namespace: str,
        name: str,
        direction: str = "upstream",
        depth: int | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Nodes and edges around a node named by its type, namespace and name."""
        query = {"type": kind, "namespace": namespace, "name": name, "direction": direction}
        query.update({key: str(value) for key, value in (("depth", depth), ("limit", limit)) if value is not None})
        return self._object("GET", f"/api/v1/lineage/graph?{urlencode(query)}")

    def lineage_impact(self, *, namespace: str, name: str) -> dict[str, Any]:
        """Every model version and active deployment downstream of a dataset."""
        query = urlencode({"namespace": namespace, "name": name})
        return self._object("GET", f"/api/v1/lineage/impact?{query}")

    def service_keys(self) -> dict[str, str]:
        """purpose → PEM of the service's public keys (unauthenticated endpoint)."""
        body = self.request("GET", "/api/v1/keys/", auth=False)
        return {item["purpose"]: item["public_key_pem"] for item in body["keys"]}

    def export_audit_log(self, *, start: int | None = None, end: int | None = None) -> dict[str, Any]:
        query = "&".join(f"{name}={value}" for name, value in (("from", start), ("to", end)) if value is not None)
        return self._object("GET", f"/api/v1/audit/export{'?' + query if query else ''}")
