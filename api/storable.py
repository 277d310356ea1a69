"""Storable JSON: whether a JSON value can be kept in PostgreSQL, decided in one place.

PostgreSQL refuses some values Python's ``json`` module accepts, with an error that would
otherwise surface as a 500 long after the request was read:

- U+0000 (NUL) in a string or a key: neither ``jsonb`` nor ``text`` can hold it;
- a lone surrogate (``"\\ud800"`` without its pair): it has no UTF-8 encoding;
- a number that is not finite: ``1e999`` parses to infinity, which is not JSON;
- nesting deeper than ``MAX_JSON_DEPTH``: Python's own recursive code (``json``, the
  serializers, ``jsonschema``) would hit its recursion limit on it.

``json_problem(value)`` finds the first such problem in a parsed value, without recursion;
``loads(text)`` parses JSON text and refuses all four, measuring the depth before
``json.loads`` ever recurses. Every surface uses them: webhook bodies (a 400 problem+json
naming the problem, nothing stored) and the API's JSON bodies (a 400 naming the field,
``api.parsers.StorableJSONParser``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

# Containers inside containers: a webhook sender's payload nests a handful of levels, a JSON
# Schema a few dozen; 100 leaves room and stays far below Python's recursion limit (1,000).
MAX_JSON_DEPTH = 100

# Characters PostgreSQL cannot store: NUL, and surrogates (json.loads pairs valid ones into
# one character, so any left in a str is lone).
_UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
# JSON text that may decode into one of the problems above (a NUL or surrogate escape, a raw
# NUL, an exponent or a run of digits that may overflow a float): only such text, or text
# with more brackets than the depth allows, is walked after parsing.
_SUSPECT_TEXT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\x00|[eE][+]?\d{3}|\d{300}")
# A JSON string (its escapes included), and the tokens that say where a key's value nests.
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRINGS = re.compile(_STRING)
_TOKENS = re.compile(_STRING + rb"|[\[\]{}:,]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


@dataclass(frozen=True)
class JSONProblem:
    """Why a JSON value cannot be stored, and where: a JSON pointer (``/a/0``, ``""`` for
    the whole value)."""

    pointer: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason}, at {self.pointer}" if self.pointer else self.reason

    def field(self) -> tuple[str | None, JSONProblem]:
        """(the top-level key the problem is under, the problem relative to it); None and
        the problem itself when it is the whole value's."""
        if not self.pointer:
            return None, self
        first, _, rest = self.pointer[1:].partition("/")
        key = first.replace("~1", "/").replace("~0", "~")
        return key, JSONProblem("/" + rest if rest else "", self.reason)


class UnstorableJSON(ValueError):
    """JSON text that parses, or would, into a value that cannot be stored."""

    def __init__(self, problem: JSONProblem):
        super().__init__(str(problem))
        self.problem = problem


def _pointer(path: tuple) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _text_problem(text: str, what: str) -> str | None:
    found = _UNSTORABLE_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return f"{what} contains the NUL character (U+0000)"
    return f"{what} contains a lone surrogate (U+{ord(found.group()):04X})"


def json_problem(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int | None = None
) -> JSONProblem | None:
    """The first reason ``value`` (a parsed JSON value) cannot be stored, or None.

    ``max_bytes``: also refuse a value whose compact JSON text would be longer (counted as
    it is walked, without serialising it, and given up as soon as it is over: a value that
    repeats one large part many times costs no more than the limit). Iterative: a value
    nested deeper than Python's recursion limit is walked as well.
    """
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]
    size = 0
    while stack:
        node, path, depth = stack.pop()
        reason = None
        if isinstance(node, str):
            size += len(node) + 3  # quotes and a separator
            reason = _text_problem(node, "a string")
        elif isinstance(node, bool) or node is None:
            size += 6
        elif isinstance(node, float):
            if not math.isfinite(node):
                reason = "a number is not finite (too large)"
            size += len(repr(node)) + 1
        elif isinstance(node, int):
            size += len(str(node)) + 1
        elif isinstance(node, dict | list | tuple):
            size += 2
            if depth >= max_depth:
                reason = f"the value nests deeper than {max_depth} levels"
            elif isinstance(node, dict):
                for key, item in node.items():
                    if isinstance(key, str):
                        size += len(key) + 3  # quotes and a colon
                        key_reason = _text_problem(key, "a key")
                        if key_reason:  # named by where it is: the key itself may not print
                            return JSONProblem(_pointer(path), key_reason)
                    stack.append((item, (*path, key), depth + 1))
            else:
                stack.extend((item, (*path, index), depth + 1) for index, item in enumerate(node))
        if reason:
            return JSONProblem(_pointer(path), reason)
        if max_bytes is not None and size > max_bytes:
            return JSONProblem("", f"the value is larger than {max_bytes} bytes as JSON")
    return None


def storable_text(text: str) -> str:
    """``text`` with what PostgreSQL cannot store (NUL, lone surrogates) replaced by U+FFFD:
    for text the service writes itself from what it was sent (an error message quoting an
    agent's answer), where refusing is not an option."""
    return _UNSTORABLE_CHARACTER.sub("\ufffd", text)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are accepted by Python's json module but are not JSON.
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``text`` parsed as JSON, when the value can be stored (see module).

    Raises UnstorableJSON (naming the problem and where) for a value that cannot be
    stored, ValueError for text that is not JSON (NaN and Infinity included; bytes that are
    not valid in their encoding, a surrogate's bytes in UTF-8 among them). Never
    RecursionError: the depth is measured on the text first.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    depth_unknown = raw.count(b"[") + raw.count(b"{") > max_depth
    if depth_unknown and _nests_deeper(raw, max_depth):
        reason = f"the value nests deeper than {max_depth} levels"
        raise UnstorableJSON(JSONProblem(_deep_key(raw, max_depth), reason))
    if not isinstance(text, str):
        # Strictly: json.loads would decode bytes with "surrogatepass", and take ED A0 80 (a
        # surrogate, which UTF-8 cannot hold) as a lone surrogate. UnicodeDecodeError is a
        # ValueError: text that is not JSON.
        text = raw.decode(json.detect_encoding(raw))
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # the scan above makes this unreachable; kept as a guard
        raise UnstorableJSON(JSONProblem("", "the value nests too deeply")) from None
    if depth_unknown or _SUSPECT_TEXT.search(raw):
        problem = json_problem(value, max_depth=max_depth)
        if problem is not None:
            raise UnstorableJSON(problem)
    return value


def _nests_deeper(raw: bytes, max_depth: int) -> bool:
    """Whether the brackets of JSON text ``raw`` nest deeper than ``max_depth``.

    Strings are dropped, then everything but brackets; each pass then removes the innermost
    pairs, so the text empties after as many passes as it is deep (C-speed string methods,
    no recursion and no loop per character).
    """
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if not shorter or shorter == brackets:  # empty, or not JSON (json.loads will say)
            return False
        brackets = shorter
    return True


def _deep_key(raw: bytes, max_depth: int) -> str:
    """The pointer of the top-level key whose value nests too deeply (``""`` when the whole
    value is the one, or the text is not an object)."""
    depth, key, last_string = 0, "", b""
    for token in _TOKENS.finditer(raw):
        text = token.group()
        if text[:1] == b'"':
            last_string = text
        elif text == b":" and depth == 1:
            try:
                key = _pointer((json.loads(last_string),))
            except ValueError:
                key = ""
        elif text in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return key
        elif text in (b"]", b"}"):
            depth -= 1
            if depth == 1:
                key = ""
    return ""
