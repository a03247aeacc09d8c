"""Validation of OpenLineage events against modelgov's schema of spec 2-0-2."""

import json
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from core.errors import ValidationFailed
from core.serializers import JSON_PROBLEM_MESSAGES, json_problem

SCHEMA_PATH = Path(__file__).with_name("openlineage.schema.json")


class InvalidOpenLineageEvent(ValidationFailed):
    code = "invalid_openlineage_event"


@cache
def _validators() -> dict[str, Draft202012Validator]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return {
        kind: Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"})
        for kind, name in (("run", "RunEvent"), ("dataset", "DatasetEvent"), ("job", "JobEvent"))
    }


def _path(parts: Any) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_SCHEMA_KINDS = {"RunEvent": "run", "DatasetEvent": "dataset", "JobEvent": "job"}


def event_kind(payload: Any) -> str:
    """RunEvent, DatasetEvent or JobEvent: by the schemaURL's fragment when it names one, else by shape.
    A RunEvent is recognised by its eventType too, so one that lost its ``run`` is refused, not taken
    for a JobEvent."""
    if not isinstance(payload, dict):
        raise InvalidOpenLineageEvent("An OpenLineage event is a JSON object.", extra={"path": "$"})
    schema_url = payload.get("schemaURL")
    if isinstance(schema_url, str) and "#/$defs/" in schema_url:
        named = _SCHEMA_KINDS.get(schema_url.rsplit("/", 1)[-1])
        if named is not None:
            return named
    if "run" in payload or "eventType" in payload:
        return "run"
    if "dataset" in payload:
        return "dataset"
    if "job" in payload:
        return "job"
    raise InvalidOpenLineageEvent(
        "Not a RunEvent, DatasetEvent or JobEvent: it has no run, dataset or job.", extra={"path": "$"}
    )


def validate_event(payload: Any) -> tuple[str, datetime]:
    """The event's kind (run | dataset | job) and time; raises InvalidOpenLineageEvent naming the path."""
    kind = event_kind(payload)
    problem = json_problem(payload)
    if problem is not None:
        message = JSON_PROBLEM_MESSAGES[problem[0]].removesuffix(".") + " in an event."
        raise InvalidOpenLineageEvent(message, extra={"path": _path(problem[1])})
    errors = sorted(
        _validators()[kind].iter_errors(payload), key=lambda error: (len(error.absolute_path), error.message)
    )
    if errors:
        first = errors[0]
        raise InvalidOpenLineageEvent(
            f"The event does not follow OpenLineage: {first.message} at {_path(first.absolute_path)}.",
            extra={"path": _path(first.absolute_path), "errors": len(errors)},
        )
    try:
        event_time = datetime.fromisoformat(payload["eventTime"].replace("Z", "+00:00"))
    except ValueError:
        raise InvalidOpenLineageEvent(
            "eventTime is not an ISO 8601 date-time.", extra={"path": "$.eventTime"}
        ) from None
    if event_time.tzinfo is None:
        raise InvalidOpenLineageEvent("eventTime needs a time zone.", extra={"path": "$.eventTime"})
    if kind == "run":
        try:
            uuid.UUID(payload["run"]["runId"])
        except ValueError:
            raise InvalidOpenLineageEvent("run.runId is not a UUID.", extra={"path": "$.run.runId"}) from None
    return kind, event_time
