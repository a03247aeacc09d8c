"""Request id, request-body limit and Prometheus metrics."""

import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from prometheus_client import Counter, Histogram

from core.context import request_id_var
from core.exceptions import error_body

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

REQUESTS = Counter("modelgov_http_requests_total", "HTTP requests handled", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "modelgov_http_request_duration_seconds",
    "Time spent handling HTTP requests",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the caller or makes one; audit entries record it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID_RE.fullmatch(supplied) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BodySizeLimitMiddleware:
    """Refuses a declared body over the limit with 413 before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MAX_REQUEST_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("malformed_request", "Content-Length is not a number."), status=400)
        if length > limit:
            return JsonResponse(
                error_body(
                    "request_too_large",
                    "The request body is larger than the limit.",
                    {"limit_bytes": limit, "content_length": length},
                ),
                status=413,
            )
        return self.get_response(request)


def _endpoint_label(request: HttpRequest) -> str:
    # The route pattern, not the raw path: one series per endpoint, not per model name.
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.route or match.view_name or "unmatched"


class MetricsMiddleware:
    """Counts requests and observes latencies per endpoint for /metrics."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        endpoint = _endpoint_label(request)
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response
