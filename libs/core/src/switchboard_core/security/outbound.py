"""The outbound (SSRF) guard: which addresses the gateway may connect to for a user.

A URL a user gives the gateway (an upstream MCP server, and whatever it points the
gateway at) must not reach the gateway's own host or network: loopback, private
(RFC 1918, fc00::/7), link-local (with the cloud metadata addresses), unspecified,
multicast, reserved and shared (CGNAT) addresses are refused, also when written as
IPv6 forms embedding an IPv4 address (IPv4-mapped, NAT64, 6to4), unless the
operator's allow-list (`SWITCHBOARD_OUTBOUND_ALLOW`) names the network or the host.

These are pure functions on addresses; the HTTP client checks the very addresses it
is about to connect to with them (`switchboard_mcp.upstream.guard`), so no second
DNS answer can slip between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from switchboard_core.errors import OutboundRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING = "SWITCHBOARD_OUTBOUND_ALLOW"

# What a development gateway (the README's quickstart, `switchboard up`) may reach
# when the allow-list is not set: its own host, where the example upstream runs.
LOOPBACK = ("127.0.0.0/8", "::1/128", "localhost")


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    # Most specific first, so the metadata address wins over link-local.
    networks = [(ipaddress.ip_network(cidr), kind) for cidr, kind in rows]
    return tuple(sorted(networks, key=lambda row: row[0].prefixlen, reverse=True))


_IPV4 = _table(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("169.254.169.254/32", "cloud metadata"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)

_IPV6 = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),
    ("100::/64", "reserved"),
    ("2001::/23", "reserved"),
    ("2001:db8::/32", "reserved"),
    ("fc00::/7", "private"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),
    ("ff00::/8", "multicast"),
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4:
        return address.sixtofour
    return None


def forbidden_kind(address: IPAddress) -> str | None:
    """Why the gateway must not connect to `address` ("private", "loopback", …), or None."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return forbidden_kind(inner)
    if isinstance(address, ipaddress.IPv4Address):
        table = _IPV4
    else:
        table = _IPV6
        address = ipaddress.IPv6Address(int(address))  # a zone (%eth0) changes nothing here
    for network, kind in table:
        if address in network:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "reserved"
    return None


def parse_address(text: str) -> IPAddress | None:
    """`text` as an IP address (brackets and an IPv6 zone allowed), or None for a host name."""
    text = text.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _host_key(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The operator's allow-list: networks, host names, and `*.suffix` host patterns
    reachable even though their addresses are forbidden."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        """From CIDRs, addresses and host names (`*.example.internal` for a whole domain);
        ValueError names an entry that is none of those."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for raw in entries:
            entry = _host_key(raw)
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.removeprefix("*.")
            if not _is_host_name(name):
                raise ValueError(f"{raw!r} is neither a CIDR, an IP address nor a host name")
            if entry.startswith("*."):
                suffixes.append("." + name)
            else:
                hosts.add(name)
        return cls(tuple(networks), frozenset(hosts), tuple(suffixes))

    def allows_host(self, host: str) -> bool:
        """Whether the allow-list names `host`: then whatever it resolves to may be reached."""
        key = _host_key(host)
        return key in self.hosts or any(key.endswith(suffix) for suffix in self.suffixes)

    def refusal(self, address: IPAddress, *, host: str | None = None) -> str | None:
        """Why connecting to `address` (found for `host`) is refused, for a person; None if allowed."""
        kind = forbidden_kind(address)
        if kind is None or (host is not None and self.allows_host(host)):
            return None
        candidates = [address]
        if (inner := embedded_ipv4(address)) is not None:
            candidates.append(inner)
        if any(a in network for a in candidates for network in self.networks if a.version == network.version):
            return None
        shown = f"{address} ({inner})" if inner is not None else str(address)
        what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
        if host is None or parse_address(host) is not None:
            return f"{shown} is {what}; allow it with {ALLOW_SETTING}"
        return f"{host} resolves to {shown}, {what}; allow it with {ALLOW_SETTING}"

    def check(self, address: IPAddress, *, host: str | None = None) -> None:
        """Raise `OutboundRefused` unless the gateway may connect to `address`."""
        why = self.refusal(address, host=host)
        if why is not None:
            raise OutboundRefused(f"outbound connection refused: {why}")


_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def _is_host_name(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))
