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
import logging
import socket
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)


class OutboundURLRefused(Exception):
    pass


# Prefixes refused whatever they carry, because Pythons disagree on them: NAT64's local-use
# prefix (RFC 8215), translated by a gateway of the local network, and 6to4 (2002::/16),
# deprecated by RFC 7526 and reached through whatever relay a network runs; Python 3.13 marks
# 6to4 not global, 3.11 judged it by the IPv4 address it carries.
_ALWAYS_REFUSED = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("2002::/16"),
)
# IPv6 forms whose low 32 bits are an IPv4 address that a gateway or the host's own stack
# reaches: NAT64's well-known prefix (RFC 6052), IPv4-compatible (deprecated, RFC 4291) and
# IPv4-translated (SIIT, RFC 2765).
_LOW_32_BITS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and leads to: IPv4-mapped, 6to4, Teredo
    (server and client), NAT64, IPv4-compatible and IPv4-translated."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in _LOW_32_BITS_IPV4):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a tenant-given URL may reach ``ip``: a global unicast address, and for an IPv6
    form that embeds an IPv4 address (embedded_ipv4), that address is one too."""
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _ALWAYS_REFUSED):
            return False
        return all(is_public_address(v4) for v4 in embedded_ipv4(ip))
    return True


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
    except (socket.gaierror, ValueError) as error:
        # ValueError: a port out of range; UnicodeError (one): a host that is no DNS name
        # (an empty label, one over 63 characters) — a tenant's URL, not a crash.
        raise OutboundURLRefused(f"Cannot resolve '{parts.hostname}': {error}") from None
    addresses = [info[4][0] for info in infos]
    if not settings.ALLOW_PRIVATE_OUTBOUND:
        for address in addresses:
            if not is_public_address(ipaddress.ip_address(address.split("%")[0])):
                # The address is the operator's to know, not the tenant's: a DNS answer of
                # the internal network would tell the tenant what is there.
                logger.warning(
                    "Refused a tenant's URL: %r resolves to %s, a private or reserved "
                    "address (ALLOW_PRIVATE_OUTBOUND=true allows it)",
                    parts.hostname, address,
                )  # fmt: skip
                raise OutboundURLRefused(
                    f"'{parts.hostname}' resolves to a private or reserved address."
                )
    return addresses[0]
