"""The SSRF guard inside the upstream HTTP client, where connections are made.

A host name is resolved once, by `GuardedResolver`: aiohttp is handed only the
answers the policy permits and connects to one of them, so the address checked is
the address connected to; a later answer (DNS rebinding) is checked again when
aiohttp resolves again. A URL naming an address itself never reaches a resolver,
so `literal_address_guard` checks it on every request, redirects included.
Refusals raise core's `OutboundRefused`; nothing is sent.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from switchboard_core.security.outbound import OutboundPolicy, OutboundRefused, parse_address

# How a name becomes addresses: aiohttp's resolver `resolve` (host, port, family).
Lookup = Callable[[str, int, socket.AddressFamily], Awaitable[list[ResolveResult]]]


class GuardedResolver(AbstractResolver):
    """Resolves with `lookup` (the system resolver by default) and keeps only what
    `policy` permits; refuses the name when nothing is left. Build it in the running loop."""

    def __init__(self, policy: OutboundPolicy, *, lookup: Lookup | None = None) -> None:
        self._policy = policy
        # The system's getaddrinfo in a thread: it holds nothing to release (the connector
        # does not close a resolver it was given).
        self._lookup = lookup or ThreadedResolver().resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._lookup(host, port, family)
        permitted: list[ResolveResult] = []
        refusals: list[str] = []
        for answer in answers:
            address = parse_address(answer["host"])
            why = (
                f"{host} resolves to {answer['host']!r}, not an address"
                if address is None
                else self._policy.refusal(address, host=host)
            )
            if why is None:
                permitted.append(answer)
            else:
                refusals.append(why)
        if not permitted:
            raise OutboundRefused(
                f"outbound connection refused: {refusals[0] if refusals else f'{host} has no address'}"
            )
        return permitted

    async def close(self) -> None:
        pass


def literal_address_guard(policy: OutboundPolicy):
    """An aiohttp client middleware refusing requests to URLs that name a forbidden address."""

    @functools.lru_cache(maxsize=1024)
    def refusal(host: str) -> str | None:
        # The policy never changes, so one verdict per host serves every request.
        address = parse_address(host)
        return None if address is None else policy.refusal(address)

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        why = refusal(request.url.raw_host or "")
        if why is not None:
            raise OutboundRefused(f"outbound connection refused: {why}")
        return await handler(request)

    return middleware
