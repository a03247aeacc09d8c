"""Serializer base for input: unknown fields are an error, not silently dropped."""

import re
from typing import Any

from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


class SurrogateCharactersValidator(ProhibitSurrogateCharactersValidator):
    """DRF's check of every character field, with the same message and code, as one regular-expression
    search instead of a Python generator over the characters (it ran on every field of every gate call)."""

    def __call__(self, value: Any) -> None:
        found = _SURROGATE.search(str(value))
        if found:
            message = self.message.format(code_point=ord(found.group()))
            raise serializers.ValidationError(message, code=self.code)


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not declare, with the code ``unknown_field``."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for field in fields.values():
            field.validators = [
                SurrogateCharactersValidator() if type(validator) is ProhibitSurrogateCharactersValidator else validator
                for validator in field.validators
            ]
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            # Echoed back: a name holding a lone surrogate is escaped, or the answer could not be encoded.
            raise serializers.ValidationError({"unknown_fields": [storable_text(name) for name in unknown]})
        return super().to_internal_value(data)


MAX_JSON_DEPTH = 32


def json_problem(value: Any, *, max_depth: int | None = None) -> tuple[str, tuple[Any, ...]] | None:
    """The first thing PostgreSQL or canonical JSON could not take in a JSON value, and where it is:
    ("null_character", path) for a string or key holding a NUL (text and jsonb cannot store one),
    ("lone_surrogate", path) for one holding half of a UTF-16 surrogate pair (JSON can escape it, UTF-8
    cannot encode it), or ("too_deep", path) past ``max_depth`` levels of nesting. The path is a tuple
    of keys and indexes."""

    def walk(item: Any, parts: tuple[Any, ...], depth: int) -> tuple[str, tuple[Any, ...]] | None:
        if max_depth is not None and depth > max_depth:
            return "too_deep", parts
        if isinstance(item, str):
            problem = _text_problem(item)
            return (problem, parts) if problem else None
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in children:
            if isinstance(key, str) and (problem := _text_problem(key)):
                return problem, (*parts, key)
            found = walk(child, (*parts, key), depth + 1)
            if found:
                return found
        return None

    return walk(value, (), 1)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "null_character"
    if not text.isascii() and _SURROGATE.search(text):
        return "lone_surrogate"
    return None


def storable_text(text: str) -> str:
    """``text`` as PostgreSQL text and UTF-8 can take it: a NUL and each half of a surrogate pair
    written as their backslash escapes, everything else as it is."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


JSON_PROBLEM_MESSAGES = {
    "null_character": "Null characters are not allowed.",
    "lone_surrogate": "Unpaired surrogate characters are not allowed.",
    "too_deep": f"Nested deeper than {MAX_JSON_DEPTH} levels.",
}


def storable_json(value: Any) -> None:
    """Validator for free-form JSON input: PostgreSQL text and jsonb cannot hold a NUL character,
    and a bounded depth keeps canonical JSON encoding (audit entries) within the recursion limit."""
    problem = json_problem(value, max_depth=MAX_JSON_DEPTH)
    if problem is not None:
        raise serializers.ValidationError(JSON_PROBLEM_MESSAGES[problem[0]])
