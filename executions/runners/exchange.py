"""One HTTP exchange with a server outside: how every outbound call is made — a poll, a
polling trigger's test samples, the ``http`` and ``openai`` runners (docs/runners.md).

Whatever the server does, an exchange keeps to:

- **One deadline for all of it.** Resolving a guarded host, connecting, TLS, sending the
  request, the status line, every header line and the body end within ``timeout`` seconds
  in all. httpx's own timeouts bound each operation only: a server that sent one header line
  every 2 s never tripped a 10 s read timeout and held a worker for as long as it went on.
  Here every socket operation of the exchange (_DeadlineStream) may wait no longer than the
  time left; past the deadline the exchange raises DeadlinePassed (an
  ``httpx.TimeoutException``, so callers name it as any timeout) and its connection is
  closed.
- **The guard** (outbound.py) for a tenant's URL (``guarded``): the host is resolved — within
  the deadline, so a tenant's own slow DNS server holds nothing either — and every address
  must be public; the connection goes to the checked address (_DeadlineBackend), while the
  URL keeps its host for the Host header, TLS server name and certificate check, so DNS
  rebinding cannot redirect it. Guarded and unguarded exchanges keep their connections in
  pools apart, so a tenant's request never reuses a connection the guard did not check.
- **A bounded answer**: at most ``max_response_bytes`` of body once decoded, or
  ResponseTooLarge (the rest is not read).
- **Interruption** (``abandoned``): while the exchange waits, ``abandoned()`` is asked every
  ``poll_seconds``, on the caller's own thread — or, when it has an ``on_abandon`` (a runner's,
  executions/services/attempt_watch.py), at every step and never by waking up: the watch
  calls ``interrupt()``, which shuts the socket being waited on down. Either way
  AttemptAbandoned is raised, the connection is closed and the server sees its client go.
  Anything raised meanwhile (a Celery soft time limit) closes it the same way.

The exchange runs on the caller's thread with process-wide clients (keep-alive connections
and the TLS context reused; made anew after a fork; a thread's calls in one of ``_SHARDS``
pools), as cheap as a plain httpx GET. Outbound
calls do not go through an HTTP(S)_PROXY of the environment: a proxy resolves names itself,
past the guard, and past the deadline. An operator's URL (unguarded) is resolved by the
system's resolver, with its own timeouts.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from executions.runners.outbound import resolve_public_address

# No cap on connections at once: an agent worker's threads (AGENT_WORKER_CONCURRENCY) are the
# cap, and a thousand calls to one runtime must not queue for a hundred sockets.
_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100)
_WRITE_CHUNK = 64 * 1024  # a request body is sent in pieces, each within the time left


class AttemptAbandoned(Exception):
    """The execution stopped wanting this attempt's result while the request was in flight."""


class ResponseTooLarge(Exception):
    """The answer's body is longer than the caller allows; the rest was not read."""

    def __init__(self, limit: int):
        super().__init__(f"The answer is larger than {limit} bytes.")
        self.limit = limit


class DeadlinePassed(httpx.TimeoutException):
    """The exchange as a whole took longer than its timeout; it was cut where it was."""


def send(
    method: str,
    url: str,
    *,
    timeout: float,
    guarded: bool,
    headers: dict[str, str] | None = None,
    content: bytes | str | None = None,
    json: Any = None,
    max_response_bytes: int | None = None,
    abandoned: Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
) -> httpx.Response:
    """Send one request (redirects are not followed) and return its response, read in full,
    all within ``timeout`` seconds (see module). Raises DeadlinePassed, ResponseTooLarge,
    AttemptAbandoned, outbound.OutboundURLRefused (``guarded``), httpx's errors as they are.
    ``user:password`` in the URL is sent as Basic authentication unless ``headers`` hold an
    Authorization."""
    exchange = _Exchange(timeout, abandoned, poll_seconds)
    if hasattr(abandoned, "on_abandon"):  # it can wake this exchange: no polling needed
        abandoned.on_abandon = exchange.interrupt
    if guarded:
        exchange.address = exchange.wait_for(_here().resolvers.submit(resolve_public_address, url))
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    parts = urlsplit(url)
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers.setdefault(
            "authorization", "Basic " + base64.b64encode(credentials.encode()).decode()
        )
    client = _here().client(guarded)
    request = client.build_request(
        method,
        httpx.URL(url).copy_with(username=None, password=None),
        headers=headers,
        content=content,
        json=json,
        timeout=timeout,  # each operation's, and the wait for a free connection
    )
    _current.exchange = exchange
    try:
        try:
            response = client.send(request, stream=True)
        except (httpx.HTTPError, httpcore.NetworkError):
            if exchange.interrupted:  # its socket was shut down by interrupt()
                raise AttemptAbandoned from None
            raise
        try:
            chunks, size = [], 0
            try:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if max_response_bytes is not None and size > max_response_bytes:
                        raise ResponseTooLarge(max_response_bytes)
                    chunks.append(chunk)
            except (httpx.HTTPError, httpcore.NetworkError):
                if exchange.interrupted:
                    raise AttemptAbandoned from None
                raise
            # What Response.read() does, with the bound above; .json() and .text read it.
            response._content = b"".join(chunks)
        finally:
            response.close()  # unread, the connection is closed rather than kept
    finally:
        _current.exchange = None
    return response


# -- the deadline, kept by every socket operation ----------------------------------------------


class _Exchange:
    """The deadline of one exchange, and when to ask ``abandoned`` next."""

    def __init__(self, timeout: float, abandoned: Callable[[], bool] | None, poll: float):
        now = time.monotonic()
        self.timeout = timeout
        self.deadline = now + timeout
        self.abandoned = abandoned
        self.poll_seconds = poll
        self.next_check = now + poll
        self.address: str | None = None  # the guard's, for a guarded exchange
        # An ``abandoned`` that can wake the exchange (``on_abandon``: interrupt) is read at
        # every step instead of every ``poll`` seconds, and no wait is cut short to ask it: a
        # thousand waiting calls then cost no CPU until their answer or their cancel.
        self.interruptible = hasattr(abandoned, "on_abandon")
        self.interrupted = False
        self.socket = None  # the socket this exchange waits on now

    def interrupt(self) -> None:
        """From another thread: the attempt is no longer wanted. The socket being waited on
        is shut down, so the wait ends at once (the exchange then raises AttemptAbandoned)."""
        self.interrupted = True
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wait_at_most(self, limit: float | None, *, resumable: bool = True) -> float:
        """How long the next blocking step may wait: the time left, no more than the step's
        own ``limit`` and, for a step that can be resumed after a timeout (a read), no
        further than the next ``abandoned()`` check. Raises DeadlinePassed, or
        AttemptAbandoned when that check says so."""
        now = time.monotonic()
        if self.abandoned is not None and (self.interruptible or now >= self.next_check):
            if self.interrupted or self.abandoned():
                raise AttemptAbandoned
            now = time.monotonic()
            self.next_check = now + self.poll_seconds
        left = self.deadline - now
        if left <= 0:
            raise DeadlinePassed(f"No complete answer within {self.timeout:g} s.")
        waits = [left] if limit is None else [left, limit]
        if resumable and self.abandoned is not None and not self.interruptible:
            waits.append(self.next_check - now)
        return max(min(waits), 0.001)

    def wait_for(self, future: Future) -> Any:
        """``future``'s result, waited for within the deadline (checking ``abandoned``)."""
        while True:
            try:
                return future.result(timeout=self.wait_at_most(None))
            except FutureTimeout:
                continue


_current = threading.local()  # the exchange running on this thread


def _exchange_here() -> _Exchange | None:
    return getattr(_current, "exchange", None)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection's stream whose every read, write and TLS handshake waits no longer than
    the exchange using it allows (the connection may outlive an exchange, kept alive)."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        exchange = _exchange_here()
        if exchange is None:
            return self._inner.read(max_bytes, timeout)
        # Known before the abandoned() check below: an interrupt() after it shuts it down.
        exchange.socket = self._inner.get_extra_info("socket")
        # A read that timed out took nothing: it is tried again until the read's own
        # timeout, the deadline or an abandoned() check ends it.
        ends = None if timeout is None else time.monotonic() + timeout
        while True:
            limit = None if ends is None else ends - time.monotonic()
            if limit is not None and limit <= 0:
                raise httpcore.ReadTimeout("timed out")
            try:
                return self._inner.read(max_bytes, exchange.wait_at_most(limit))
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        exchange = _exchange_here()
        if exchange is None:
            return self._inner.write(buffer, timeout)
        for start in range(0, len(buffer), _WRITE_CHUNK):
            wait = exchange.wait_at_most(timeout, resumable=False)
            self._inner.write(buffer[start : start + _WRITE_CHUNK], wait)
        return None

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        exchange = _exchange_here()
        if exchange is not None:  # the handshake as a whole (CPython's ssl) within it
            timeout = exchange.wait_at_most(timeout, resumable=False)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, connected within the exchange's deadline — for a guarded
    exchange, to the address the guard checked — and wrapped in _DeadlineStream."""

    def __init__(self, *, guarded: bool):
        self._inner = httpcore.SyncBackend()
        self._guarded = guarded

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None, socket_options=None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        exchange = _exchange_here()
        if exchange is not None:
            timeout = exchange.wait_at_most(timeout, resumable=False)
        if self._guarded:
            if exchange is None or exchange.address is None:
                raise httpcore.ConnectError("A guarded connection without a checked address.")
            host = exchange.address
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("Outbound exchanges use TCP only.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool built on _DeadlineBackend."""

    def __init__(self, *, guarded: bool, tls: ssl.SSLContext):
        super().__init__(verify=tls, limits=_LIMITS, trust_env=False)
        # httpx takes no network backend; the pool it sends through is httpcore's, which does.
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_DeadlineBackend(guarded=guarded),
        )


# -- this process's clients ---------------------------------------------------------------------


class _Process:
    """This process's clients — guarded and unguarded in pools apart, each in ``_SHARDS``
    pools chosen by thread — sharing one TLS context (~20 ms to make), and the threads that
    resolve guarded hosts (a lookup the deadline gave up on ends there when the system's
    resolver does).

    Shards: httpcore's pool looks at every connection it holds for each request, so one pool
    of an agent worker's thousand open calls cost O(n) per request, a third of its CPU; a
    thread's requests go to one of ``_SHARDS`` pools, each keeping its connections alive."""

    def __init__(self):
        self.pid = os.getpid()
        self.tls = httpx.create_ssl_context()
        self.clients: dict[tuple[bool, int], httpx.Client] = {}
        self.lock = threading.Lock()
        self.resolvers = ThreadPoolExecutor(16, thread_name_prefix="outbound-dns")

    def client(self, guarded: bool) -> httpx.Client:
        shard = getattr(_thread_shard, "index", None)
        if shard is None:  # threads take the shards in turn
            shard = _thread_shard.index = next(_shard_turns) % _SHARDS
        key = (guarded, shard)
        found = self.clients.get(key)
        if found is None:
            with self.lock:
                found = self.clients.get(key)
                if found is None:
                    found = self.clients[key] = httpx.Client(
                        transport=_DeadlineTransport(guarded=guarded, tls=self.tls),
                        follow_redirects=False,
                        trust_env=False,
                    )
        return found


_SHARDS = 32
_shard_turns = itertools.count()
_thread_shard = threading.local()
_process: _Process | None = None
_making = threading.Lock()


def _here() -> _Process:
    """This process's (made anew after a fork: a child inherits no threads, and sockets it
    must not share)."""
    global _process
    process = _process
    if process is None or process.pid != os.getpid():
        # One for all the threads: an agent worker's thousand calls start at once, and each
        # making its own (a TLS context: ~20 ms of CPU) cost seconds.
        with _making:
            process = _process
            if process is None or process.pid != os.getpid():
                process = _process = _Process()
    return process
