"""Shared upstream sessions and one pooled HTTP client for the whole process.

With tracing on, every client made here makes a span per upstream request and sends its
`traceparent` (`http_spans`)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import aiohttp
from switchboard_core import telemetry
from switchboard_core.security.outbound import OutboundPolicy

from switchboard_mcp.upstream.auth import UpstreamAuth
from switchboard_mcp.upstream.guard import GuardedResolver, Lookup, literal_address_guard
from switchboard_mcp.upstream.http_spans import client_spans
from switchboard_mcp.upstream.silence import ANSWER_WAIT_S
from switchboard_mcp.upstream.transport import NegotiatingUpstream, Upstream

# The upstream HTTP client. aiohttp, not httpx: httpx's pool scans every pooled
# connection on each request (probing each socket), which cost more CPU than the
# rest of a proxied tools/call together.
HttpClient = aiohttp.ClientSession


# Nothing but public addresses: what a client gets unless its caller allows more.
PUBLIC_ONLY = OutboundPolicy()


def new_http_client(
    *, policy: OutboundPolicy = PUBLIC_ONLY, max_connections: int = 512, lookup: Lookup | None = None
) -> HttpClient:
    """A pooled keep-alive client connecting only where `policy` permits (the SSRF
    guard); call it inside the running event loop. `lookup` replaces the system resolver."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        keepalive_timeout=60,
        ttl_dns_cache=60,
        resolver=GuardedResolver(policy, lookup=lookup),
    )
    # No proxy from the environment (trust_env): it would connect where no check looked.
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, middlewares=(*_spans(), literal_address_guard(policy))
    )


def _spans() -> tuple:
    """The span middleware when tracing is on (asked once, as a client is made), else none."""
    return (client_spans(),) if telemetry.tracing_active() else ()


# Credentialed clients kept at once (least recently made go first).
CREDENTIALED_LIMIT = 1024


class UpstreamClients:
    """The pooled, guarded HTTP client, and for each gateway's credentials a client that
    sends them (`UpstreamAuth`), sharing the pooled client's connections and its guard.

    `http` must have been made with the same `policy`."""

    def __init__(self, http: HttpClient | None = None, *, policy: OutboundPolicy = PUBLIC_ONLY) -> None:
        self.http = http or new_http_client(policy=policy)
        self._guard = literal_address_guard(policy)
        self._credentialed: OrderedDict[str, HttpClient] = OrderedDict()
        self._closing: set[asyncio.Task] = set()

    def client(self, auth: UpstreamAuth | None) -> HttpClient:
        """The client to reach an upstream with: the pooled one when it needs no credentials."""
        if auth is None:
            return self.http
        client = self._credentialed.get(auth.key)
        if client is None:
            auth.bind(self.http)
            client = self._credentialed[auth.key] = aiohttp.ClientSession(
                connector=self.http.connector,
                connector_owner=False,
                trust_env=False,
                middlewares=(*_spans(), self._guard, auth),
            )
            if len(self._credentialed) > CREDENTIALED_LIMIT:
                self._let_go(next(iter(self._credentialed)))
        return client

    def _let_go(self, key: str) -> None:
        """The oldest credentials' client goes: most likely they changed long since."""
        client = self._credentialed.pop(key, None)
        if client is not None:
            task = asyncio.get_running_loop().create_task(client.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for client in self._credentialed.values():
            await client.close()
        self._credentialed.clear()
        await self.http.close()


class UpstreamPool:
    """One session per upstream URL and credentials, reused across calls (stateless-safe
    upstreams).

    The transport (Streamable HTTP or legacy HTTP+SSE) is chosen on a session's first
    use; from then on the session itself is handed out. A URL is one gateway's (the
    registry refuses a second), so a URL met with other credentials than before means
    they changed: the session with the old ones is ended. (Their client stays, for
    sessions of clients' own still using it, until `UpstreamClients` lets it go.)"""

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        policy: OutboundPolicy = PUBLIC_ONLY,
        timeout_s: float = 30.0,
        answer_wait_s: float = ANSWER_WAIT_S,
    ) -> None:
        self.clients = UpstreamClients(http, policy=policy)
        self.http = self.clients.http
        self._timeout_s = timeout_s
        # How long a call may wait on the client's answer to its upstream's request.
        self.answer_wait_s = answer_wait_s
        self._sessions: dict[tuple[str, str], NegotiatingUpstream] = {}
        # url -> the key of the credentials its session was last opened with ("" for none)
        self._current: dict[str, str] = {}
        self._closing: set[asyncio.Task] = set()

    def session(self, url: str, auth: UpstreamAuth | None = None) -> Upstream | NegotiatingUpstream:
        session = self._sessions.get((url, auth.key if auth is not None else ""))
        if session is None:
            session = self._open(url, auth)
        return session.resolved or session

    def current(self, url: str) -> NegotiatingUpstream | None:
        """The session last opened for `url`, under the credentials it was last given."""
        key = self._current.get(url)
        return None if key is None else self._sessions.get((url, key))

    def _open(self, url: str, auth: UpstreamAuth | None) -> NegotiatingUpstream:
        key = auth.key if auth is not None else ""
        before = self._current.get(url)
        if before is not None and before != key:
            self._drop(url, before)
        self._current[url] = key
        session = self._sessions[url, key] = NegotiatingUpstream(
            url, self.clients.client(auth), timeout_s=self._timeout_s, answer_wait_s=self.answer_wait_s
        )
        return session

    def _drop(self, url: str, key: str) -> None:
        old = self._sessions.pop((url, key), None)
        if old is not None:
            task = asyncio.get_running_loop().create_task(old.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        await self.clients.close()
