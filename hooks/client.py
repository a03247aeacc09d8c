"""A small client for the modelgov REST API, usable from any Python pipeline (Airflow, Kubeflow,
plain scripts). Standard library only, plus ``cryptography`` for signing manifests."""

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_TIMEOUT = 30.0


class TransportError(Exception):
    """The server could not be reached, or its answer is not JSON of the shape the call expects."""


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
        # OSError covers URLError, timeouts and refused or reset connections; HTTPException a status
        # line or a body cut short, also while the body of an error answer is read.
        try:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return self._decode(response.read(), response.status)
            except urllib.error.HTTPError as error:
                status, payload = error.code, self._decode(error.read(), error.code)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from None
        if isinstance(payload, dict) and "code" in payload:
            extra = payload.get("extra")
            raise ApiError(
                status, str(payload["code"]), str(payload.get("message", "")), extra if isinstance(extra, dict) else {}
            )
        raise ApiError(status, "http_error", f"HTTP {status}", {})

    def _object(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A call whose answer is a JSON object; anything else is a TransportError."""
        result = self.request(method, path, body)
        if not isinstance(result, dict):
            raise TransportError(
                f"the answer to {method} {path.partition('?')[0]} is {_json_kind(result)}, not a JSON object"
            )
        return result

    @staticmethod
    def _decode(raw: bytes, status: int) -> Any:
        try:
            return json.loads(raw or b"null")
        except (ValueError, RecursionError):
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
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Ask the gate. ``nonce`` (1 to 128 of ``[A-Za-z0-9._~-]``) is signed back in the decision's
        predicate, so that a caller can tell this answer from a replayed older one. The answer's shape
        is checked (a TransportError if it is not that of the API); its envelope is not: verify it
        with ``hooks.decision.verify_decision`` before acting on the decision."""
        body: dict[str, Any] = {
            "model": model,
            "version": version,
            "target_stage": target_stage,
            "artifact_digest": artifact_digest,
            "pipeline": pipeline or {},
            "dry_run": dry_run,
            "promote": promote,
        }
        if nonce is not None:
            body["nonce"] = nonce
        answer = self._object("POST", "/api/v1/gate/promotions", body)
        _check_fields(answer, GATE_ANSWER_FIELDS, what="the gate's answer")
        if answer["decision"] not in ("allow", "deny"):
            raise TransportError(f"the gate's answer has decision {answer['decision']!r}, not 'allow' or 'deny'")
        if not all(isinstance(check, dict) for check in answer["checks"]):
            raise TransportError("the gate's answer has checks that are not JSON objects")
        return answer

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
        answer = self._object("POST", f"/api/v1/models/{model}/versions/", body)
        _check_fields(answer, REGISTER_ANSWER_FIELDS, what="the registration's answer")
        return answer

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
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(
            isinstance(item, dict) and all(isinstance(item.get(name), str) for name in ("purpose", "public_key_pem"))
            for item in keys
        ):
            raise TransportError(
                'the answer to GET /api/v1/keys/ is not a key listing ({"keys": [{"purpose", "public_key_pem"}]})'
            )
        return {item["purpose"]: item["public_key_pem"] for item in keys}

    def service_key(self, purpose: str) -> str:
        """The PEM of the service's public key for ``purpose``; a TransportError if none is published."""
        keys = self.service_keys()
        if purpose not in keys:
            raise TransportError(f"the server publishes no {purpose} key at /api/v1/keys/")
        return keys[purpose]

    def export_audit_log(self, *, start: int | None = None, end: int | None = None) -> dict[str, Any]:
        query = "&".join(f"{name}={value}" for name, value in (("from", start), ("to", end)) if value is not None)
        return self._object("GET", f"/api/v1/audit/export{'?' + query if query else ''}")


# What the callers read of an answer, and its JSON type (``None`` stands for null).
GATE_ANSWER_FIELDS: dict[str, tuple[type, ...]] = {
    "decision": (str,),
    "decision_id": (str,),
    "checks": (list,),
    "audit_seq": (int, type(None)),
    "promoted": (bool,),
    "dry_run": (bool,),
    "envelope": (dict,),
}
REGISTER_ANSWER_FIELDS: dict[str, tuple[type, ...]] = {"model": (str,), "version": (int,), "artifact_digest": (str,)}


def _json_kind(value: Any) -> str:
    if value is None:
        return "empty or null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        return "a JSON array"
    return "a JSON object"


def _check_fields(answer: dict[str, Any], fields: dict[str, tuple[type, ...]], *, what: str) -> None:
    """A TransportError naming the first field that is missing or of another JSON type."""
    for name, types in fields.items():
        if name not in answer:
            raise TransportError(f"{what} has no {name!r}")
        value = answer[name]
        # bool is an int in Python, not in JSON.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise TransportError(f"in {what}, {name!r} is {_json_kind(value)}")
