"""The outbound guard refuses every IPv6 form that embeds a private or loopback IPv4 (issue 19,
finding 7): a table of IPv4 addresses of every kind, each written in every embedding, judged
by the ``ipaddress`` module's own properties of the address it embeds."""

import ipaddress
import socket

import pytest

from executions.runners.outbound import (
    OutboundURLRefused,
    embedded_ipv4,
    is_public_address,
    resolve_public_address,
)

IPV4 = [
    "127.0.0.1", "127.1.2.3",  # loopback
    "10.0.0.1", "172.16.0.1", "192.168.1.1",  # private
    "169.254.169.254",  # link-local: the cloud metadata service
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "0.0.0.0", "240.0.0.1", "192.0.2.1",  # unspecified, reserved, documentation
    "224.0.0.1",  # multicast
    "8.8.8.8", "1.1.1.1", "93.184.216.34",  # public
]  # fmt: skip


def embeddings(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    n = int(v4)
    teredo_server = int(ipaddress.IPv4Address("192.0.2.45"))
    return {
        "IPv4-mapped": ipaddress.IPv6Address(f"::ffff:{v4}"),
        "IPv4-compatible": ipaddress.IPv6Address(n),
        "IPv4-translated": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "NAT64 64:ff9b::/96": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "6to4 2002::/16": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
        "Teredo client": ipaddress.IPv6Address(
            (0x20010000 << 96) | (teredo_server << 64) | (~n & 0xFFFFFFFF)
        ),
    }


def reachable(v4: ipaddress.IPv4Address) -> bool:
    """What ipaddress says of the IPv4 address itself: global unicast."""
    return v4.is_global and not v4.is_multicast


@pytest.mark.parametrize("address", IPV4)
def test_every_embedding_is_judged_by_the_ipv4_it_carries(address):
    v4 = ipaddress.IPv4Address(address)
    assert is_public_address(v4) == reachable(v4)
    for form, v6 in embeddings(v4).items():
        assert v4 in embedded_ipv4(v6), form
        if not reachable(v4):
            assert not is_public_address(v6), f"{form} {v6} embeds {v4}"
        elif form == "NAT64 64:ff9b::/96":
            assert is_public_address(v6), f"{form} {v6}: a public IPv4 behind a public prefix"
        elif form == "6to4 2002::/16":
            # Deprecated and judged differently by Python 3.11 and 3.13: refused on all.
            assert not is_public_address(v6), f"{form} {v6}"


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "2002:7f00:1::", "::127.0.0.1", "::ffff:127.0.0.1", "64:ff9b:1::a00:1",
     "::1", "fe80::1", "fc00::1", "ff02::1"],
)  # fmt: skip
def test_the_addresses_of_the_finding_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


def test_native_public_ipv6_passes():
    assert is_public_address(ipaddress.ip_address("2606:4700:4700::1111"))


def test_a_host_resolving_to_an_embedded_loopback_is_refused(monkeypatch, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    answer = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::7f00:1", 443, 0, 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answer)

    with pytest.raises(OutboundURLRefused, match="private or reserved"):
        resolve_public_address("https://runtime.example.com/run")


def test_the_refusal_tells_the_tenant_no_dns_answer(settings, caplog):
    """Which address a tenant's host resolved to is the operator's to know (issue 25, finding
    7): the error, which the tenant reads on its execution, says only that it is private; the
    address goes to the log."""
    settings.ALLOW_PRIVATE_OUTBOUND = False
    resolved = {info[4][0] for info in socket.getaddrinfo("localhost", 80)}

    with (
        caplog.at_level("WARNING", logger="executions.runners.outbound"),
        pytest.raises(OutboundURLRefused) as refused,
    ):
        resolve_public_address("http://localhost:8080/run")

    assert str(refused.value) == "'localhost' resolves to a private or reserved address."
    assert any(address in caplog.text for address in resolved)


@pytest.mark.parametrize(
    "url", ["http://example..com/", f"http://{'a' * 64}.example.com/", "http://example.com:99999/"]
)
def test_a_host_that_is_no_dns_name_is_refused_not_a_crash(url):
    # getaddrinfo raises UnicodeError for an empty or over-long label, urlsplit ValueError for
    # a port out of range: a tenant's URL, refused like one that does not resolve.
    with pytest.raises(OutboundURLRefused, match="Cannot resolve"):
        resolve_public_address(url)
