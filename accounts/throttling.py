"""Slowing down password guessing on the OAuth2 token endpoint (``POST /token``).

Failures are counted per username *and* client address together, in a window of
``LOGIN_FAILURE_WINDOW_SECONDS``; after ``LOGIN_FAILURE_LIMIT`` of them, that username from
that address is refused (429 with ``Retry-After``) until the window that filled up ends —
also a right password, so guessing cannot go on at full speed. A success clears the count.

Why the pair and not each alone: a count per username lets anyone lock any user out by
failing on purpose, and a count per address locks out everyone behind one address (an office,
the proxy). Guessing one password from many addresses is slowed down by each address's own
count, and wrong bearer tokens by the per-address throttle (accounts/authentication.py).
Counts live in Django's cache (Redis when the broker is Redis, else per process).
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str, address: str) -> str:
    pair = f"{username.lower()}\x00{address}"
    return f"login-failures:{hashlib.sha256(pair.encode()).hexdigest()[:32]}"


def login_blocked_for(*, username: str, address: str) -> int | None:
    """Seconds until a login attempt is allowed again, or None when it is allowed now."""
    now = time.time()
    count, first = cache.get(_key(username, address), (0, now))
    if count >= settings.LOGIN_FAILURE_LIMIT:
        return int(first + settings.LOGIN_FAILURE_WINDOW_SECONDS - now) + 1
    return None


def login_failed(*, username: str, address: str) -> None:
    now = time.time()
    key = _key(username, address)
    count, first = cache.get(key, (0, now))
    remaining = max(1, int(first + settings.LOGIN_FAILURE_WINDOW_SECONDS - now))
    cache.set(key, (count + 1, first), timeout=remaining)


def login_succeeded(*, username: str, address: str) -> None:
    cache.delete(_key(username, address))
