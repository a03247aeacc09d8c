"""Validation of OpenLineage events against modelgov's schema of spec 2-0-2."""

import json
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from core.errors import ValidationFailed

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


def event_kind(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise InvalidOpenLineageEvent("An OpenLineage event is a JSON object.", extra={"path": "$"})
    if "run" in payload:
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
        uuid.UUID(payload["run"]["runId"])
    return kind, event_time
