"""Slowing down password guessing on the OAuth2 token endpoint (``POST /token``).

Failures are counted per username and per client address in a window of
``LOGIN_FAILURE_WINDOW_SECONDS``; after ``LOGIN_FAILURE_LIMIT`` of either, further attempts
are refused (429 with ``Retry-After``) until the window that filled up ends — also a right
password, so guessing cannot go on at full speed. A success clears its username's count.
Counts live in Django's cache (Redis when the broker is Redis, else per process).
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _keys(username: str, address: str) -> list[str]:
    hashed = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return [f"login-failures:user:{hashed}", f"login-failures:addr:{address}"]


def login_blocked_for(*, username: str, address: str) -> int | None:
    """Seconds until a login attempt is allowed again, or None when it is allowed now."""
    now = time.time()
    waits = []
    for key in _keys(username, address):
        count, first = cache.get(key, (0, now))
        if count >= settings.LOGIN_FAILURE_LIMIT:
            waits.append(int(first + settings.LOGIN_FAILURE_WINDOW_SECONDS - now) + 1)
    return max(waits) if waits else None


def login_failed(*, username: str, address: str) -> None:
    now = time.time()
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key in _keys(username, address):
        count, first = cache.get(key, (0, now))
        remaining = max(1, int(first + window - now))
        cache.set(key, (count + 1, first), timeout=remaining)


def login_succeeded(*, username: str, address: str) -> None:
    cache.delete(_keys(username, address)[0])
