"""The SSRF guard's address table and allow-list (switchboard_core.security.outbound)."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError
from switchboard_core.security.outbound import LOOPBACK, OutboundPolicy, OutboundRefused, forbidden_kind
from switchboard_core.settings import ServiceSettings

FORBIDDEN = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.5", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.0.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.192", "reserved"),
    ("192.0.2.10", "reserved"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "reserved"),
    ("198.51.100.7", "reserved"),
    ("203.0.113.9", "reserved"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    ("::2", "reserved"),
    ("4000::1", "reserved"),
    # IPv6 forms carrying a forbidden IPv4 address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.5", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:100.64.0.1", "shared (CGNAT)"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:0a00:0005::1", "private"),
    ("2002:7f00:0001::1", "loopback"),
]

PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "169.253.255.255",
    "192.169.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:0808:0808::1",
]


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_each_forbidden_range_is_named(address: str, kind: str) -> None:
    assert forbidden_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_kind(ipaddress.ip_address(address)) is None
    assert OutboundPolicy().refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_nothing_forbidden_is_reachable_without_an_allow_list(address: str, kind: str) -> None:
    with pytest.raises(OutboundRefused, match="allow it with SWITCHBOARD_OUTBOUND_ALLOW"):
        OutboundPolicy().check(ipaddress.ip_address(address))


def test_the_refusal_names_the_host_the_address_and_its_kind() -> None:
    why = OutboundPolicy().refusal(ipaddress.ip_address("10.0.0.5"), host="db.internal")
    assert (
        why == "db.internal resolves to 10.0.0.5, a private address; allow it with SWITCHBOARD_OUTBOUND_ALLOW"
    )

    literal = OutboundPolicy().refusal(ipaddress.ip_address("::ffff:169.254.169.254"))
    assert literal == (
        "::ffff:a9fe:a9fe (169.254.169.254) is a cloud metadata address; allow it with SWITCHBOARD_OUTBOUND_ALLOW"
    )


@pytest.mark.parametrize(
    ("entries", "address", "host", "allowed"),
    [
        (["10.0.0.0/8"], "10.0.0.5", None, True),
        (["10.0.0.0/24"], "10.0.1.5", None, False),
        (["10.0.0.5"], "10.0.0.5", None, True),
        (["10.0.0.0/8"], "::ffff:10.0.0.5", None, True),
        (["127.0.0.1/32"], "127.0.0.2", None, False),
        (["fd00::/8"], "fd00::1", None, True),
        (["fd00::/8"], "fd00:ec2::254", None, True),
        (["::1"], "127.0.0.1", None, False),
        (["127.0.0.0/8"], "::1", None, False),
        (["upstream.internal"], "10.0.0.5", "upstream.internal", True),
        (["upstream.internal"], "10.0.0.5", "UPSTREAM.internal.", True),
        (["upstream.internal"], "10.0.0.5", "other.internal", False),
        (["*.corp.example"], "192.168.4.4", "mcp.corp.example", True),
        (["*.corp.example"], "192.168.4.4", "corp.example", False),
        (["*.corp.example"], "192.168.4.4", "evilcorp.example", False),
        (["upstream.internal"], "10.0.0.5", None, False),
    ],
)
def test_the_allow_list_admits_networks_and_hosts(
    entries: list[str], address: str, host: str | None, allowed: bool
) -> None:
    refusal = OutboundPolicy.parse(entries).refusal(ipaddress.ip_address(address), host=host)
    assert (refusal is None) is allowed


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "http://x", "-", "a..b"])
def test_an_allow_list_entry_that_is_neither_a_network_nor_a_host_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a CIDR"):
        OutboundPolicy.parse([entry])


def test_development_reaches_loopback_by_default_and_production_nothing_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SWITCHBOARD_OUTBOUND_ALLOW", raising=False)
    loopback = ipaddress.ip_address("127.0.0.1")

    development = ServiceSettings(environment="development").outbound_policy()
    assert development == OutboundPolicy.parse(LOOPBACK)
    assert development.refusal(loopback) is None
    assert development.refusal(ipaddress.ip_address("10.0.0.5")) is not None

    assert ServiceSettings(environment="production").outbound_policy().refusal(loopback) is not None


def test_the_allow_list_setting_is_a_comma_list_and_an_empty_one_allows_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_OUTBOUND_ALLOW", " 10.0.0.0/8, upstream.internal ,*.corp.example")
    policy = ServiceSettings(environment="production").outbound_policy()
    assert policy == OutboundPolicy.parse(["10.0.0.0/8", "upstream.internal", "*.corp.example"])

    monkeypatch.setenv("SWITCHBOARD_OUTBOUND_ALLOW", "")
    assert ServiceSettings(environment="development").outbound_policy() == OutboundPolicy()

    monkeypatch.setenv("SWITCHBOARD_OUTBOUND_ALLOW", "10.0.0.0/8,not a host")
    with pytest.raises(ValidationError, match="not a host"):
        ServiceSettings()
