"""Rendering a trigger's `messageTemplate`: `{{ path }}` placeholders filled from the request.

A path starts with a name and continues with `.name`, `[index]` (negative counts from the end)
or `["any key"]` for keys that are not plain names. Names may contain letters, digits, `_`
and `-` (so `{{ headers.X-GitHub-Event }}` works). A webhook's template reads the payload —
the body after the trigger's outputTransform, the body itself without one — from its root,
as the management API's senders write it, and the request under `body`, `headers` and
`query` (message_context). Examples:

    {{ action }}   {{ issue.title }}   {{ items[0].name }}   {{ issue["display name"] }}
    {{ body.action }}   {{ headers.x-github-event }}   {{ query.q }}

Rendering rules: a missing path or a JSON null renders as "" (a message with a gap reads better
than a failed webhook); strings render as-is, booleans as true/false, objects and lists as
compact JSON. Names under `headers` match case-insensitively, like HTTP header names.

Only `{{` is special: single braces and a lone `}}` are literal text, so JSON-shaped templates
such as `{"text": "{{ body.text }}"}` need no escaping. This is a regex and a path walker on
purpose: there is no expression language and nothing in a template can execute code.

Bounded: a template is an amplifier (300 copies of `{{ input }}` turn a 1 MiB delivery into
300 MiB), so a template holds at most MAX_PLACEHOLDERS placeholders (refused when saved,
check_template_size), and rendering stops with TemplateTooLarge as soon as the text would
pass `max_bytes` (UTF-8): the oversized text is never built, and each distinct placeholder
is serialised once.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
# More placeholders than this in one template is certainly an amplifier, not a prompt.
MAX_PLACEHOLDERS = 100
# What a rendered template may be at most when the caller names no limit (settings:
# RENDERED_TEXT_MAX_BYTES).
DEFAULT_MAX_RENDERED_BYTES = 256 * 1024


class TemplateTooLarge(ValueError):
    """Rendering would produce more than the allowed bytes; nothing was produced."""


_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_FIRST = re.compile(rf"\s*({_NAME})")
_NEXT = re.compile(rf"\.({_NAME})|\[(-?\d+)\]|\[\"([^\"]*)\"\]")

Path = list[str | int]


def _parse_path(text: str) -> Path:
    """The segments of a placeholder's path; ValueError when it is not valid path syntax."""
    first = _FIRST.match(text)
    if first is None:
        raise ValueError(f"invalid placeholder {{{{{text}}}}}: a path must start with a name")
    path: Path = [first.group(1)]
    position = first.end()
    end = len(text.rstrip())
    while position < end:
        step = _NEXT.match(text, position)
        if step is None:
            raise ValueError(
                f"invalid placeholder {{{{{text}}}}}: unexpected {text[position:end]!r}"
            )
        name, index, quoted = step.groups()
        path.append(int(index) if index is not None else name if name is not None else quoted)
        position = step.end()
    return path


def _parse(template: str) -> list[str | Path]:
    """The template as literal strings and paths, in order; ValueError on a malformed `{{`."""
    if not isinstance(template, str):
        raise ValueError("messageTemplate: must be a string")
    pieces: list[str | Path] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append(_literal(template, position, match.start()))
        pieces.append(_parse_path(match.group(1)))
        position = match.end()
    pieces.append(_literal(template, position, len(template)))
    return pieces


def _literal(template: str, start: int, end: int) -> str:
    text = template[start:end]
    opened = text.find("{{")
    if opened != -1:
        raise ValueError(
            f"messageTemplate: '{{{{' at position {start + opened} is not closed by '}}}}'"
        )
    return text


def validate_message_template(template: Any, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES) -> None:
    """Raise ValueError for an unclosed `{{`, a placeholder whose path is not valid syntax, or
    a template certainly too large (check_template_size)."""
    _parse(template)
    check_template_size(template, max_bytes)


def check_template_size(template: str, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES) -> None:
    """ValueError when ``template`` would certainly render too large: more than
    MAX_PLACEHOLDERS placeholders, or literal text alone over ``max_bytes``. (Whether a
    delivery makes it too large is known only when rendering: TemplateTooLarge.)"""
    if not isinstance(template, str):
        return
    count = sum(1 for _ in _PLACEHOLDER.finditer(template))
    if count > MAX_PLACEHOLDERS:
        raise ValueError(
            f"has {count} placeholders; at most {MAX_PLACEHOLDERS} are allowed "
            "(each may hold a whole delivery)"
        )
    if len(template) > max_bytes or len(template.encode("utf-8", "replace")) > max_bytes:
        raise ValueError(f"is longer than {max_bytes} bytes, the most a rendered text may be")


def _step(value: Any, segment: str | int, case_insensitive: bool) -> Any:
    if isinstance(segment, int):
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            try:
                return value[segment]
            except IndexError:
                return None
        return None
    if not isinstance(value, Mapping):
        return None
    if segment in value:
        return value[segment]
    if case_insensitive:
        wanted = segment.lower()
        return next(
            (v for k, v in value.items() if isinstance(k, str) and k.lower() == wanted), None
        )
    return None


def resolve_path(context: Mapping[str, Any], path: Path) -> Any:
    """The value at `path` in `context`, or None when any step is missing."""
    value: Any = context
    for depth, segment in enumerate(path):
        value = _step(value, segment, case_insensitive=depth == 1 and path[0] == "headers")
        if value is None:
            return None
    return value


def message_context(
    payload: Any, *, body: Any, headers: Mapping[str, Any], query: Mapping[str, Any]
) -> Mapping[str, Any]:
    """What a webhook's messageTemplate reads: the payload's own keys at the root (a payload
    that is not an object has none), and, under a name the payload does not use itself, the
    request's ``body``, ``headers`` and ``query``. The payload wins a clash: a template is
    written against what the sender sends (``{{ body }}`` of a payload with a ``body`` key is
    that key)."""
    request = {"body": body, "headers": headers, "query": query}
    if isinstance(payload, Mapping):
        return ChainMap(payload, request)
    return request


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def compile_message_template(template: str) -> tuple[str | Path, ...]:
    """`template` parsed once (literal strings and paths), for render_message_template.

    Raises ValueError for a malformed template or one with more than MAX_PLACEHOLDERS
    placeholders.
    """
    pieces = tuple(_parse(template))
    count = sum(1 for piece in pieces if not isinstance(piece, str))
    if count > MAX_PLACEHOLDERS:
        raise ValueError(
            f"messageTemplate: has {count} placeholders; at most {MAX_PLACEHOLDERS} are allowed"
        )
    return pieces


def render_message_template(
    template: str | tuple[str | Path, ...],
    context: Mapping[str, Any],
    *,
    max_bytes: int | None = DEFAULT_MAX_RENDERED_BYTES,
) -> str:
    """`template` (text, or compiled by compile_message_template) with every placeholder
    replaced by its value in `context` (rules above).

    Raises TemplateTooLarge as soon as the text would pass ``max_bytes`` (UTF-8; None: no
    limit), before it is built; ValueError for a malformed template
    (validate_message_template at save time).
    """
    pieces = _parse(template) if isinstance(template, str) else template
    texts: list[str] = []
    rendered: dict[tuple, tuple[str, int]] = {}  # each distinct path is serialised once
    size = 0
    for piece in pieces:
        if isinstance(piece, str):
            text, length = piece, _utf8_length(piece)
        else:
            key = tuple(piece)
            if key not in rendered:
                value = _as_text(resolve_path(context, piece))
                rendered[key] = (value, _utf8_length(value))
            text, length = rendered[key]
        size += length
        if max_bytes is not None and size > max_bytes:
            raise TemplateTooLarge(f"the rendered text would be larger than {max_bytes} bytes")
        texts.append(text)
    return "".join(texts)


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
