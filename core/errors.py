"""Typed domain errors. Each carries a stable snake_case ``code`` (listed in docs/api-errors.md),
an HTTP status and ``extra`` data; ``core.exceptions.api_exception_handler`` renders them as
``{"code", "message", "extra"}``."""

from typing import Any, ClassVar


class ApplicationError(Exception):
    """Base of every error the domain raises on purpose."""

    code: ClassVar[str] = "application_error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    code = "validation_error"
    status = 400


class UnknownField(ValidationFailed):
    code = "unknown_field"


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
