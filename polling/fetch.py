"""One GET of a polled source, guarded (docs/polling.md).

A source's URL is typed in by a tenant, so every request goes through the outbound guard of
the runners (executions/runners/outbound.py): the host must resolve to public addresses only
(unless ALLOW_PRIVATE_OUTBOUND), and the request goes to the checked address with the
original Host header and TLS server name. Redirects are followed by hand, at most
MAX_REDIRECTS, each hop checked again; the connection's headers are not sent to another
origin. The answer is read up to ``max_bytes`` (after decompression) and within ``timeout``
seconds in all. A 304 to a conditional request is ``not_modified``; a 429 or 5xx, an error
status, a timeout or a refused address raise PollFailed.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from django.utils import timezone

from executions.runners.outbound import (
    OutboundURLRefused,
    check_url_syntax,
    resolve_public_address,
)
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


_client: httpx.Client | None = None
_client_pid: int | None = None


def _http() -> httpx.Client:
    """This process's client: its keep-alive connections and TLS context are reused across
    polls (made anew after a fork)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = httpx.Client(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        _client_pid = os.getpid()
    return _client


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
    target, headers, extensions = _pinned(url, headers)
    left = deadline - time.monotonic()
    if left <= 0:
        raise PollFailed(f"The source did not answer within {timeout:g} s.")
    client = _http()
    request = client.build_request(
        "GET", target, headers=headers, extensions=extensions, timeout=httpx.Timeout(left)
    )
    try:
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            if response.status_code not in _REDIRECTS:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PollFailed(
                            f"The source's answer is larger than {max_bytes} bytes "
                            "(POLLING_MAX_RESPONSE_BYTES)."
                        )
                    if time.monotonic() > deadline:
                        raise PollFailed(f"The source did not answer within {timeout:g} s.")
                    chunks.append(chunk)
            answer = {name.lower(): value for name, value in response.headers.items()}
            return response.status_code, answer, b"".join(chunks)
        finally:
            response.close()
    except httpx.TimeoutException:
        raise PollFailed(f"The source did not answer within {timeout:g} s.") from None
    except httpx.HTTPError as error:
        raise PollFailed(f"The source could not be reached: {error}") from None


def _pinned(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str], dict]:
    """The request to the address the guard checked, with the URL's Host and TLS name (and
    its user:password, as Basic authentication)."""
    try:
        check_url_syntax(url)
        address = resolve_public_address(url)
    except OutboundURLRefused as refused:
        raise PollFailed(str(refused)) from None
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    headers = {**headers, "host": f"{host}{port}"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers.setdefault(
            "authorization", "Basic " + base64.b64encode(credentials.encode()).decode()
        )
    literal = f"[{address}]" if ":" in address else address
    target = urlunsplit(parts._replace(netloc=f"{literal}{port}"))
    return target, headers, {"sni_hostname": parts.hostname}


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port)
