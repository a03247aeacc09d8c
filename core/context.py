"""Per-request context (the request id) that services read without threading it through every call."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("modelgov_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
