"""Small, loud readers of environment variables.

Settings read the environment only through these helpers, so a typo such as
``DEBUG=ture`` stops the process at start-up instead of silently meaning "off".
"""

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_RATE = re.compile(r"(?P<count>[1-9][0-9]*)/(?P<period>s|sec|m|min|h|hour|d|day)")


def env_rate(name: str, default: str) -> str:
    """A throttle rate, ``"<count>/<s|min|hour|day>"`` (DRF's form: ``"30/min"``)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if not _RATE.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 30/min (a count, then s, min, hour or day), got {raw!r}"
        )
    return value


# NAME=value, optionally after "export "; the value is taken literally (no expansion).
_ENV_FILE_LINE = re.compile(r"(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)")


def load_env_file(path: Path) -> None:
    """Put the variables of a ``NAME=value`` file (``var/local.env``) into the environment.

    A variable already in the environment wins over the file. A missing file is skipped;
    blank lines and ``#`` comments are ignored; a value may be wrapped in '…' or "…", and
    is otherwise taken literally. Any other line stops start-up, naming the file and line
    (not its text, which may hold a secret).
    """
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _ENV_FILE_LINE.fullmatch(text)
        if match is None:
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value")
        value = match["value"]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(match["name"], value)
