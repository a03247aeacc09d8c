"""The API's JSON parser: DRF's, refusing as malformed two inputs that would otherwise fail later as a 500."""

import codecs
import math
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # 1e400 parses to inf, which neither canonical JSON nor PostgreSQL's jsonb can hold.
        raise ValueError(f"number out of range: {text}")
    return value


class JSONParser(parsers.JSONParser):
    """Also refuses out-of-range numbers and documents nested deeper than the parser's recursion limit."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json.loads(text, parse_constant=json.strict_constant, parse_float=_finite_float)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply") from None
