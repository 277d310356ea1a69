"""The one JSON parser of every API surface (``DEFAULT_PARSER_CLASSES``).

DRF's JSONParser takes values PostgreSQL cannot store (NUL, lone surrogates, ``1e999``) and
recurses on deep nesting until RecursionError — all 500s, found only when the row is
written. This one parses with ``api.storable.loads``: a body that is not JSON is DRF's usual
400 parse error; a value that cannot be stored is a 400 naming the top-level field it is in
(``{"custom_task": ["Cannot be stored: a string contains the NUL character … at /a/0."]}``)
in the surface's error format.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding

from api import storable


class StorableJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        try:
            return storable.loads(text)
        except storable.UnstorableJSON as unstorable:
            raise unstorable_field_error(unstorable.problem) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def unstorable_field_error(problem: storable.JSONProblem) -> ValidationError | ParseError:
    """A 400 naming the field ``problem`` is in (a ParseError when it is the whole body's)."""
    field, inside = problem.field()
    if field is None:
        return ParseError(f"The body cannot be stored: {problem}.")
    return ValidationError({field: [f"Cannot be stored: {inside}."]})
