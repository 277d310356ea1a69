"""Hostile and careless webhook bodies against a running service; no answer may be a 5xx.

    .venv/bin/python -m bench.hostile_webhooks http://127.0.0.1:8011/hooks/<token> [more URLs]

Each case goes to each URL as raw HTTP (so lengths, encodings and bytes are exactly as
written); the answers are counted by status and every 5xx is printed. Exits 1 if there was
one. The cases: NUL, lone surrogates, non-finite and huge numbers, 10,000-deep nesting, 20 MB
(declared and sent; and chunked), gzip (and a gzip bomb), wrong and odd content types, bytes
that are not UTF-8, NUL in the query and in the path, odd headers. docs/api.md has the last
run's counts.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import sys
from collections import Counter
from urllib.parse import urlsplit

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


def cases() -> list[tuple[str, bytes, dict[str, str], str]]:
    """(name, body, headers, query)"""
    bomb = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]")  # 10 MB once inflated
    return [
        ("nul in a string", b'{"a": "x\\u0000y"}', {"Content-Type": JSON}, ""),
        ("nul in a key", b'{"\\u0000": 1}', {"Content-Type": JSON}, ""),
        ("raw nul byte", b'{"a": "x\x00y"}', {"Content-Type": JSON}, ""),
        ("lone high surrogate", b'{"a": "\\ud800"}', {"Content-Type": JSON}, ""),
        ("lone low surrogate", b'["\\udfff"]', {"Content-Type": JSON}, ""),
        ("surrogate in a key", b'{"\\udc00": 1}', {"Content-Type": JSON}, ""),
        ("not utf-8", b'{"a": "\xff\xfe"}', {"Content-Type": JSON}, ""),
        ("1e999", b'{"n": 1e999}', {"Content-Type": JSON}, ""),
        ("-1e999", b"[-1e999]", {"Content-Type": JSON}, ""),
        ("NaN", b'{"n": NaN}', {"Content-Type": JSON}, ""),
        ("Infinity", b"[Infinity]", {"Content-Type": JSON}, ""),
        ("5,000-digit integer", b'{"n": ' + b"9" * 5000 + b"}", {"Content-Type": JSON}, ""),
        ("400-digit float", b'{"n": ' + b"9" * 400 + b".5}", {"Content-Type": JSON}, ""),
        ("10,000-deep array", DEEP_ARRAY, {"Content-Type": JSON}, ""),
        ("10,000-deep object", DEEP_OBJECT, {"Content-Type": JSON}, ""),
        ("101-deep", b"[" * 101 + b"]" * 101, {"Content-Type": JSON}, ""),
        ("100-deep (fine)", b"[" * 100 + b"]" * 100, {"Content-Type": JSON}, ""),
        ("20 MB", b'{"a": "' + b"x" * (20 * 1024 * 1024) + b'"}', {"Content-Type": JSON}, ""),
        ("gzip", gzip.compress(b'{"a": 1}'), {"Content-Type": JSON, "Content-Encoding": "gzip"},
         ""),
        ("gzip bomb", bomb, {"Content-Type": JSON, "Content-Encoding": "gzip"}, ""),
        ("xml", b"<a>1</a>", {"Content-Type": "application/xml"}, ""),
        ("no content type", b'{"a": 1}', {}, ""),
        ("utf-16 json", '{"a": 1}'.encode("utf-16"), {"Content-Type": JSON + "; charset=utf-16"},
         ""),
        ("multipart", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n",
         {"Content-Type": "multipart/form-data; boundary=x"}, ""),
        ("form with nul", b"a=%00", {"Content-Type": FORM}, ""),
        ("form with a bad payload", b"payload=%7Bnot", {"Content-Type": FORM}, ""),
        ("form payload 10,000 deep", b"payload=" + b"%5B" * 10_000 + b"%5D" * 10_000,
         {"Content-Type": FORM}, ""),
        ("text with nul", b"a\x00b", {"Content-Type": "text/plain"}, ""),
        ("text, not utf-8", b"\xc3\x28", {"Content-Type": "text/plain"}, ""),
        ("nul in the query", b"{}", {"Content-Type": JSON}, "q=%00"),
        ("surrogate bytes in the query", b"{}", {"Content-Type": JSON}, "q=%ED%A0%80"),
        ("latin-1 header", b"{}", {"Content-Type": JSON, "X-Odd": "caf\xe9"}, ""),
        ("empty body", b"", {"Content-Type": JSON}, ""),
        ("wrong content-length", b'{"a": 1}', {"Content-Type": JSON, "Content-Length": "abc"},
         ""),
        ("fine", b'{"a": 1}', {"Content-Type": JSON}, ""),
    ]  # fmt: skip


def send(url: str, body: bytes, headers: dict[str, str], query: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    path = parts.path + (f"?{query}" if query else "")
    try:
        connection.putrequest("POST", path, skip_accept_encoding=True)
        headers = {"Content-Length": str(len(body)), **headers}
        for name, value in headers.items():
            connection.putheader(name, value.encode("latin-1"))
        connection.endheaders()
        # The server may answer (413) and close before it has read it all.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        return connection.getresponse().status
    finally:
        connection.close()


def send_chunked(url: str, size: int) -> int:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as raw:
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        raw.sendall(head.encode())
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(size // len(chunk)):
                raw.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            raw.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status_line = raw.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def main(urls: list[str]) -> int:
    counts: Counter[int] = Counter()
    failures = []
    for url in urls:
        for name, body, headers, query in cases():
            status = send(url, body, headers, query)
            counts[status] += 1
            print(f"{status}  {name}  {url}")
            if status >= 500:
                failures.append(name)
        status = send(url + "%00", b"{}", {"Content-Type": JSON}, "")
        counts[status] += 1
        print(f"{status}  nul in the path  {url}")
        if status >= 500:
            failures.append("nul in the path")
        status = send_chunked(url, 20 * 1024 * 1024)
        counts[status] += 1
        print(f"{status}  20 MB chunked  {url}")
        if status >= 500:
            failures.append("20 MB chunked")
    total = sum(counts.values())
    summary = ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))
    print(f"{total} requests: {summary}; {len(failures)} answered 5xx")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
