"""A DNS server on loopback whose records a test changes while clients resolve them.

What a Kubernetes headless Service (or Compose's embedded DNS) does for a service's
replicas, reduced to what gRPC's resolver asks: A and AAAA records, answered with a TTL
of 0, from a table the test edits (a replica joins when its address is added). Clients
reach it with a target naming it as the DNS authority:
`dns://127.0.0.1:<port>/<name>:<service port>` (see `DnsServer.target`)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import AsyncIterator

_A, _AAAA = 1, 28
_NO_ERROR, _FORMAT_ERROR, _NAME_ERROR = 0, 1, 3
# QR (a response) | AA (authoritative) | RD echoed | RA: what a recursive resolver answers.
_RESPONSE_FLAGS = 0x8580


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.port = 0
        self.queries = 0
        self._transport: asyncio.DatagramTransport | None = None

    def target(self, name: str, port: int) -> str:
        return f"dns://127.0.0.1:{self.port}/{name}:{port}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._transport is not None
        self.queries += 1
        self._transport.sendto(self.answer(data), addr)

    def answer(self, query: bytes) -> bytes:
        try:
            query_id, name, qtype, question = _parse(query)
        except (IndexError, struct.error, UnicodeDecodeError):
            return query[:2] + struct.pack("!HHHHH", _RESPONSE_FLAGS | _FORMAT_ERROR, 0, 0, 0, 0)
        addresses = [ipaddress.ip_address(a) for a in self.records.get(name, [])]
        wanted = [a.packed for a in addresses if (_A if a.version == 4 else _AAAA) == qtype]
        # Pointer 0xc00c: the name of the question, which starts at byte 12.
        answers = b"".join(
            struct.pack("!HHHIH", 0xC00C, qtype, 1, 0, len(packed)) + packed for packed in wanted
        )
        rcode = _NO_ERROR if name in self.records else _NAME_ERROR
        header = struct.pack("!HHHHHH", query_id, _RESPONSE_FLAGS | rcode, 1, len(wanted), 0, 0)
        return header + question + answers


def _parse(query: bytes) -> tuple[int, str, int, bytes]:
    """The id, lower-cased name, type and raw question section of a one-question query."""
    (query_id,) = struct.unpack("!H", query[:2])
    labels: list[str] = []
    at = 12
    while query[at]:
        length = query[at]
        labels.append(query[at + 1 : at + 1 + length].decode("ascii"))
        at += 1 + length
    qtype, _qclass = struct.unpack("!HH", query[at + 1 : at + 5])
    return query_id, ".".join(labels).lower(), qtype, query[12 : at + 5]


@contextlib.asynccontextmanager
async def dns_server(records: dict[str, list[str]] | None = None) -> AsyncIterator[DnsServer]:
    """A `DnsServer` on a free UDP port of 127.0.0.1, serving `records` (name → addresses)."""
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(DnsServer, local_addr=("127.0.0.1", 0))
    server.records.update(records or {})
    server.port = transport.get_extra_info("sockname")[1]
    try:
        yield server
    finally:
        transport.close()
