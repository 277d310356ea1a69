"""A JSON body's values must have the JSON type the API documents, not one DRF can coerce.

DRF's fields coerce what they are given: a CharField stores the number ``0.0`` as ``"0.0"``,
an IntegerField takes ``"5"`` and ``5.0``, a BooleanField takes ``"yes"`` and ``1``, a
ChoiceField of integers takes ``"1"``, a UUIDField takes an integer. Our OpenAPI documents
(and the API contracts they follow) say string, integer, boolean; a client that sends another type
has a bug it should hear about, with a 400 naming the field, like any other bad input.

So every serializer that takes input mixes in ``StrictJSONTypes``: before DRF's own
validation, the value of each writable field present in a JSON body is checked for its JSON
type, with the field's own DRF error message. ``null`` is left to ``allow_null``. The APIs
parse JSON only (``DEFAULT_PARSER_CLASSES``), so a string always came from a JSON string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from api import storable


class StrictJSONTypes:
    """Serializer mixin: refuse a JSON value of the wrong type for its field (see module)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = {}
            for field in self._writable_fields:
                if field.field_name in data:
                    message = json_type_error(field, data[field.field_name])
                    if message:
                        errors[field.field_name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """The field's DRF error message when `value` is not of the JSON type `field` documents."""
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        ok = isinstance(value, bool)
    elif isinstance(field, serializers.IntegerField):
        ok = _is_integer(value)
    elif isinstance(field, serializers.FloatField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(field, serializers.ChoiceField) and not isinstance(
        field, serializers.MultipleChoiceField
    ):
        if all(_is_integer(choice) for choice in field.choices):
            ok = _is_integer(value)
        elif all(isinstance(choice, str) for choice in field.choices):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            return field.error_messages["invalid_choice"].format(input=value)
    elif isinstance(field, serializers.CharField | serializers.UUIDField):
        ok = isinstance(value, str)
    else:
        ok = True
    return None if ok else str(field.error_messages["invalid"])


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def reject_unstorable(value) -> None:
    """A field validator: a value PostgreSQL cannot store (NUL, a lone surrogate, a number
    that is not finite, nesting deeper than api.storable.MAX_JSON_DEPTH) is a 400 naming the
    field and saying where inside it, not a 500 when the row is written."""
    problem = storable.json_problem(value)
    if problem is not None:
        raise serializers.ValidationError(f"Cannot be stored: {problem}.")


# The name this validator had while it checked NUL only; modules still import it.
reject_nul_characters = reject_unstorable
