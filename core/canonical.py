"""Canonical JSON: sorted keys, no insignificant whitespace, UTF-8. The exact bytes are what get
hashed and signed, and they are stored as they are, so nothing is re-serialized to verify."""

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
