"""Regular expressions a trigger's owner writes, matched against what a webhook's sender sends.

Neither side of such a match is ours: the pattern comes from the trigger's settings
(`signatureVerification` regexes, the input schema's `pattern` and `patternProperties`), the
text from the request. Python's `re` backtracks, so a pattern such as `(a+)+$` takes time
exponential in the length of a crafted header or body, and one request would hold a web
worker until gunicorn's timeout killed it, for every tenant served by it (ReDoS). These
patterns therefore run on RE2 (`google-re2`, Google's engine), which matches in time linear
in the input whatever the pattern.

RE2 reads Python's syntax except for what needs backtracking: lookahead and lookbehind,
backreferences, possessive quantifiers and atomic groups. A pattern that uses them is
refused when the trigger is saved, with RE2's reason (input_schema.py does this for the input
schema and runs jsonschema's pattern keywords on RE2). Two smaller differences: `\\d`, `\\w`
and `\\s` are ASCII-only, and `$` matches at the very end only (not before a final newline).
"""

from __future__ import annotations

import functools

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the caller, not to stderr


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str | bytes) -> re2._Regexp:
    """The compiled RE2 pattern (cached); ValueError with RE2's reason when it is refused.

    A bytes pattern (UTF-8) matches bytes: the result's groups are slices of the input, so
    bytes that are not UTF-8 pass through unchanged (they are matched by no character class).
    """
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not supported"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"invalid regular expression: {reason}") from None
