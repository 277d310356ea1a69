"""Which files a trigger's ``patterns`` select: pure, no database.

A pattern is matched against the file's path relative to the watched folder, ``/``-separated
(``2026/12/report.csv``), with Python's ``fnmatch.fnmatchcase``: case-sensitive, ``*`` matches
any characters *including* ``/``, ``?`` one character, ``[abc]`` / ``[!abc]`` one of a set.
So in a recursive watch ``*.csv`` selects CSV files at every depth and ``incoming/*`` every
file below ``incoming/``; a non-recursive watch only ever sees the files directly in the
folder. A file matches when any one of the patterns matches.
"""

import fnmatch
import re
from collections.abc import Callable
from functools import lru_cache

PATTERNS_MAX = 100
PATTERN_MAX_LENGTH = 255


@lru_cache(maxsize=1024)
def compile_patterns(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """One compiled test for all of ``patterns`` (fnmatchcase semantics)."""
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda relative_path: regex.match(relative_path) is not None
