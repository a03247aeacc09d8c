"""Serializer base for input: unknown fields are an error, not silently dropped."""

from typing import Any

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not declare, with the code ``unknown_field``."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({"unknown_fields": unknown})
        return super().to_internal_value(data)


MAX_JSON_DEPTH = 32


def storable_json(value: Any) -> None:
    """Validator for free-form JSON input: PostgreSQL text and jsonb cannot hold a NUL character,
    and a bounded depth keeps canonical JSON encoding (audit entries) within the recursion limit."""

    def check(item: Any, depth: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise serializers.ValidationError(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(item, str):
            if "\x00" in item:
                raise serializers.ValidationError("Null characters are not allowed.")
        elif isinstance(item, dict):
            for key, child in item.items():
                check(key, depth)
                check(child, depth + 1)
        elif isinstance(item, list):
            for child in item:
                check(child, depth + 1)

    check(value, 1)
