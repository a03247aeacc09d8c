"""The one error contract of the API: every error body is ``{"code", "message", "extra"}``."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

# DRF's own default codes are kept (not_authenticated, permission_denied, not_found, ...) except these.
_RENAMED_DRF_CODES = {"parse_error": "malformed_json", "error": "api_error"}


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def _drf_code(exc: drf.APIException) -> str:
    code = getattr(exc.detail, "code", None) or exc.default_code
    return _RENAMED_DRF_CODES.get(str(code), str(code))


def _validation_extra(detail: Any) -> tuple[str, dict[str, Any]]:
    """Turn a DRF ValidationError detail into (code, extra); an unknown field gets its own code."""
    fields = drf_detail_to_data(detail)
    if _has_unknown_fields(fields):
        return "unknown_field", {"fields": fields}
    return "validation_error", {"fields": fields if isinstance(fields, dict) else {"non_field_errors": fields}}


def _has_unknown_fields(fields: Any) -> bool:
    """True when a nested serializer at any depth refused an undeclared field."""
    if isinstance(fields, dict):
        return "unknown_fields" in fields or any(_has_unknown_fields(value) for value in fields.values())
    if isinstance(fields, list):
        return any(_has_unknown_fields(item) for item in fields)
    return False


def drf_detail_to_data(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: drf_detail_to_data(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [drf_detail_to_data(item) for item in detail]
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.extra), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is larger than the limit."), status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    if isinstance(exc, drf.ValidationError):
        code, extra = _validation_extra(exc.detail)
        response.data = error_body(code, "The request is not valid.", extra)
    else:
        response.data = error_body(_drf_code(exc), str(exc.detail))
    return response


def json_error_response(request: HttpRequest, code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error_response(request, "not_found", "Nothing is found at this address.", 404)


def handler500(request: HttpRequest) -> JsonResponse:
    logger.error("unhandled error on %s", request.path)
    return json_error_response(request, "internal_error", "An internal error occurred.", 500)
