"""Who the client is and which URL it used, when reverse proxies (nginx) stand between.

The ASGI peer is the client unless it is one of the trusted proxies
(SWITCHBOARD_TRUSTED_PROXIES); only then are X-Forwarded-For, -Proto, -Host and -Port
believed. nginx appends the address it saw to X-Forwarded-For
(`$proxy_add_x_forwarded_for`), so the list is read from the right, skipping trusted
proxies: anything further left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# What a Host may hold here: it ends up inside quoted header values and JSON.
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def parse_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ProxyTrust:
    def __init__(self, trusted_proxies: list[str], *, public_url: str = "") -> None:
        # A bad entry fails at start, not on some request.
        self._networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)
        parts = urlsplit(public_url.strip())
        self._public_base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    @property
    def fixed_base(self) -> bool:
        return bool(self._public_base)

    def _trusted(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self._networks)

    def _peer(self, scope) -> IPAddress | None:
        client = scope.get("client")
        return parse_address(client[0]) if client else None

    def client_address(self, scope, headers: dict[str, str]) -> IPAddress | None:
        """The client's address, or None when it cannot be known (no peer, or a trusted
        proxy that named an address that is none)."""
        address = self._peer(scope)
        if not self._trusted(address):
            return address
        hops = [hop for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if not self._trusted(address):
                return address
        return address

    def base_url(self, scope, headers: dict[str, str]) -> str:
        """`scheme://host[:port]` as the client reached the gateway."""
        if self._public_base:
            return self._public_base
        scheme = scope.get("scheme", "http")
        host = headers.get("host", "")
        if self._trusted(self._peer(scope)):
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
            forwarded_host = headers.get("x-forwarded-host", "").split(",")[0].strip()
            port = headers.get("x-forwarded-port", "").split(",")[0].strip()
            if forwarded_host:
                host = forwarded_host
                # nginx's `$host` has no port: it comes separately.
                if port and ":" not in host.rsplit("]", 1)[-1] and port != _DEFAULT_PORTS.get(scheme):
                    host = f"{host}:{port}"
        if scheme not in _DEFAULT_PORTS:
            scheme = "http"
        if not _HOST.fullmatch(host):
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else "localhost"
        return f"{scheme}://{host}"
