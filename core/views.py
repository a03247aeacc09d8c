"""Operations endpoints: liveness, readiness and Prometheus metrics."""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"; the reason is reported, not raised
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def _broker_ready() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # an unreachable broker is "not ready", never an exception page
        return f"{type(exc).__name__}: {exc}".strip()[:300]
    return None


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready when the database answers, and the broker too when one is configured."""
    checks: dict[str, str] = {}
    database_error = _database_ready()
    checks["database"] = "ok" if database_error is None else database_error
    if settings.CELERY_BROKER_URL:
        broker_error = _broker_ready()
        checks["broker"] = "ok" if broker_error is None else broker_error
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        logger.warning("readiness check failed: %s", checks)
        return JsonResponse(
            {"code": "not_ready", "message": "A dependency is not reachable.", "extra": {"checks": checks}},
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": checks})


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition of this process's counters and histograms."""
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
