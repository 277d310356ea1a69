"""One GET of a polled source, guarded (docs/polling.md).

A source's URL is typed in by a tenant, so every request is an outbound exchange of the
runners (executions/runners/exchange.py), guarded: the host must resolve to public addresses
only (unless ALLOW_PRIVATE_OUTBOUND), and the request goes to the checked address with the
original Host header and TLS server name. Redirects are followed by hand, at most
MAX_REDIRECTS, each hop checked again; the connection's headers are not sent to another
origin. ``timeout`` is one deadline for the whole fetch — every hop's lookup, connection,
status line, header lines and body — so a source that dribbles its answer is cut at it. The
answer is read up to ``max_bytes`` (after decompression). A 304 to a conditional request is
``not_modified``; a 429 or 5xx, an error status, a timeout or a refused address raise
PollFailed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from django.utils import timezone

from executions.runners.exchange import ResponseTooLarge, send
from executions.runners.outbound import OutboundURLRefused
from polling.errors import PollFailed
from polling.rules import retry_after_seconds

MAX_REDIRECTS = 5
USER_AGENT = "agent-triggers-poller/1"
_BODY_SHOWN = 300
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch(
    url: str, *, headers: dict[str, str], private_headers: dict[str, str], timeout: float,
    max_bytes: int,
) -> Fetched:  # fmt: skip
    """GET ``url`` with ``headers`` and, to its own origin only, ``private_headers`` (the
    connection's). Raises PollFailed for anything but a 2xx or a 304."""
    deadline = time.monotonic() + timeout
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        sent = _lower({"user-agent": USER_AGENT, **headers})
        if _origin(url) == origin:
            sent.update(_lower(private_headers))
        response_status, response_headers, body = _get(url, sent, deadline, timeout, max_bytes)
        if response_status in _REDIRECTS and response_headers.get("location"):
            url = urljoin(url, response_headers["location"])
            continue
        return _answer(url, response_status, response_headers, body)
    raise PollFailed(f"More than {MAX_REDIRECTS} redirects, the last to {url}.")


def _answer(url: str, status: int, headers: dict[str, str], body: bytes) -> Fetched:
    if 200 <= status < 300 or status == 304:
        return Fetched(url=url, status=status, body=body, headers=headers)
    wait = retry_after_seconds(headers.get("retry-after"), now=timezone.now())
    shown = body[:_BODY_SHOWN].decode("utf-8", "replace")
    if status == 429:
        raise PollFailed(
            "The source answered 429 (rate limited)"
            + (f"; Retry-After: {wait:g} s." if wait is not None else "."),
            counted=False,
            retry_after=wait,
        )
    raise PollFailed(f"The source answered {status}: {shown}", retry_after=wait)


def _get(
    url: str, headers: dict[str, str], deadline: float, timeout: float, max_bytes: int
) -> tuple[int, dict[str, str], bytes]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise PollFailed(f"The source did not answer within {timeout:g} s.")
    try:
        response = send(
            "GET", url, headers=headers, timeout=left, guarded=True, max_response_bytes=max_bytes
        )
    except OutboundURLRefused as refused:
        raise PollFailed(str(refused)) from None
    except ResponseTooLarge:
        raise PollFailed(
            f"The source's answer is larger than {max_bytes} bytes (POLLING_MAX_RESPONSE_BYTES)."
        ) from None
    except httpx.TimeoutException:  # the deadline, or one operation's timeout within it
        raise PollFailed(f"The source did not answer within {timeout:g} s.") from None
    except httpx.HTTPError as error:
        raise PollFailed(f"The source could not be reached: {error}") from None
    answer = {name.lower(): value for name, value in response.headers.items()}
    return response.status_code, answer, response.content


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port)
