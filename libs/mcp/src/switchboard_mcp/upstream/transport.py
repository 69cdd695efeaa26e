"""Choosing an upstream's transport: Streamable HTTP, else the legacy HTTP+SSE one,
else the stateless revision.

As the spec's backwards-compatibility note says: POST an initialize first; a 404 or
405 means an older server, so GET the same URL for an SSE stream instead. A URL
ending in `/sse` goes straight to the legacy transport. An initialize refused with
`-32022` naming only stateless versions (a 2026-07-28-only server) means a newer
one: it is spoken to without a session (`StatelessUpstream`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp

from switchboard_mcp.upstream.errors import NotStreamableHttp, UpstreamRPCError
from switchboard_mcp.upstream.legacy_sse import LegacySseSession
from switchboard_mcp.upstream.session import UpstreamSession
from switchboard_mcp.upstream.silence import ANSWER_WAIT_S
from switchboard_mcp.upstream.stateless import StatelessUpstream, refuses_handshake

Upstream = UpstreamSession | LegacySseSession | StatelessUpstream


def is_legacy_sse_url(url: str) -> bool:
    return url.split("?", 1)[0].rstrip("/").endswith("/sse")


async def open_upstream(
    url: str,
    http: aiohttp.ClientSession,
    *,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    answer_wait_s: float = ANSWER_WAIT_S,
    client_capabilities: dict | None = None,
    ids: Iterator[int] | None = None,
) -> Upstream:
    """An initialized session with the upstream at `url`, over whichever transport it speaks."""
    options = {
        "headers": headers,
        "timeout_s": timeout_s,
        "answer_wait_s": answer_wait_s,
        "client_capabilities": client_capabilities,
        "ids": ids or itertools.count(1),
    }
    if not is_legacy_sse_url(url):
        session = UpstreamSession(url, http, **options)
        try:
            await session.connect()
            return session
        except NotStreamableHttp:
            pass
        except UpstreamRPCError as exc:
            if not refuses_handshake(exc):
                raise
            stateless = StatelessUpstream(url, http, **options)
            await stateless.connect()
            return stateless
    legacy = LegacySseSession(url, http, **options)
    await legacy.connect()
    return legacy


class NegotiatingUpstream:
    """An upstream whose transport is chosen on first use, for callers that need a
    session object before they may await (the pool). Once chosen, `resolved` is the
    session itself; a failed choice (upstream down) is tried again on the next call."""

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        *,
        timeout_s: float = 30.0,
        answer_wait_s: float = ANSWER_WAIT_S,
        client_capabilities: dict | None = None,
    ) -> None:
        self.url = url
        self._http = http
        self._timeout_s = timeout_s
        self.answer_wait_s = answer_wait_s
        self._client_capabilities = client_capabilities
        # One id sequence whichever session ends up using it: ids taken before the
        # choice must not collide with the chosen session's own.
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.resolved: Upstream | None = None

    @property
    def capabilities(self) -> dict[str, Any]:
        return self.resolved.capabilities if self.resolved else {}

    @property
    def server_info(self) -> dict[str, Any]:
        return self.resolved.server_info if self.resolved else {}

    @property
    def protocol_version(self) -> str:
        return self.resolved.protocol_version if self.resolved else ""

    async def connect(self) -> None:
        await self._resolve()

    def next_id(self) -> int:
        return next(self._ids)

    async def list_tools(self) -> list[dict]:
        return await (await self._resolve()).list_tools()

    async def list_all(self, method: str, key: str) -> list[dict]:
        return await (await self._resolve()).list_all(method, key)

    async def call_tool(
        self, name: str, arguments: Any, *, extra_headers: Mapping[str, str] | None = None
    ) -> dict:
        return await (await self._resolve()).call_tool(name, arguments, extra_headers=extra_headers)

    async def request(
        self, method: str, params: dict | None = None, *, extra_headers: Mapping[str, str] | None = None
    ) -> Any:
        return await (await self._resolve()).request(method, params, extra_headers=extra_headers)

    async def stream(
        self,
        request_id: int,
        method: str,
        params: dict | None,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict]:
        upstream = await self._resolve()
        messages = upstream.stream(request_id, method, params, extra_headers=extra_headers)
        try:
            async for message in messages:
                yield message
        finally:
            await messages.aclose()

    async def listen(self, opened: asyncio.Event | None = None) -> AsyncIterator[dict]:
        try:
            upstream = await self._resolve()
        finally:
            if opened is not None and self.resolved is None:
                opened.set()
        messages = upstream.listen(opened)
        try:
            async for message in messages:
                yield message
        finally:
            await messages.aclose()

    async def send(self, message: dict, *, extra_headers: Mapping[str, str] | None = None) -> None:
        await (await self._resolve()).send(message, extra_headers=extra_headers)

    async def close(self) -> None:
        if self.resolved is not None:
            await self.resolved.close()

    async def _resolve(self) -> Upstream:
        if self.resolved is not None:
            return self.resolved
        async with self._lock:
            if self.resolved is None:
                self.resolved = await open_upstream(
                    self.url,
                    self._http,
                    timeout_s=self._timeout_s,
                    answer_wait_s=self.answer_wait_s,
                    client_capabilities=self._client_capabilities,
                    ids=self._ids,
                )
        return self.resolved
