"""Guarding requests to user-given URLs against private addresses (SSRF).

An agent's ``runtime_url`` is typed in by a tenant; without this guard it could point the
worker at 127.0.0.1, the cloud metadata service (169.254.169.254) or the internal
network. Every address the host resolves to must be public, unless the operator allows
private ones with ``ALLOW_PRIVATE_OUTBOUND``. The check runs right before each request;
the request then goes to the checked IP with the original Host header and TLS server name,
so a DNS answer that changes between check and connect (rebinding) cannot slip through.
URLs from settings (the operator's own) are not guarded.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class OutboundURLRefused(Exception):
    pass


def check_url_syntax(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundURLRefused(f"'{url}' is not an http(s) URL with a host.")


def resolve_public_address(url: str) -> str:
    """The first resolved address of ``url``'s host; OutboundURLRefused if any is private."""
    check_url_syntax(url)
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OutboundURLRefused(f"Cannot resolve '{parts.hostname}': {error}") from None
    addresses = [info[4][0] for info in infos]
    if not settings.ALLOW_PRIVATE_OUTBOUND:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise OutboundURLRefused(
                    f"'{parts.hostname}' resolves to {address}, a private or reserved address; "
                    "set ALLOW_PRIVATE_OUTBOUND=true to allow it."
                )
    return addresses[0]
