"""Upstream sessions of their own for clients that can answer upstream requests.

A client declaring sampling, elicitation or roots may be asked things by an upstream
at any time, also on the upstream's GET stream where nothing says which client is
meant. Such a client therefore gets its own session with each upstream it uses,
initialized with the client's capabilities, and whatever that upstream sends on its
own is this client's: requests are renumbered and queued on the client's GET stream,
notifications are passed on. Clients without those capabilities share one pooled
session per upstream (the fast path). Stateless clients (2026-07-28) declaring such
capabilities share one session per upstream and set of capabilities declared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from switchboard_core.errors import SwitchboardError
from switchboard_mcp.upstream import NegotiatingUpstream, Upstream, UpstreamPool

from switchboard_proxy.sessions import Session, UpstreamRef

logger = logging.getLogger(__name__)

ANSWERING_CAPABILITIES = ("sampling", "elicitation", "roots")
# Distinct capability sets kept with upstream sessions (least recently used go first).
DECLARING_LIMIT = 256


def wants_own_sessions(session: Session | None) -> bool:
    return session is not None and any(c in session.client_capabilities for c in ANSWERING_CAPABILITIES)


class ClientUpstreams:
    def __init__(self, pool: UpstreamPool, *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        # client session id -> upstream url -> (its upstream session, the task following its GET stream)
        self._by_session: dict[str, dict[str, tuple[Upstream, asyncio.Task]]] = {}
        # (upstream url, capabilities declared) -> the session stateless clients declaring them share.
        self._declaring_sessions: dict[tuple[str, bytes], NegotiatingUpstream] = {}
        self._closing: set[asyncio.Task] = set()

    async def session_for(self, url: str, client: Session | None) -> Upstream:
        if not wants_own_sessions(client):
            return self._pool.session(url)
        if client.stateless:
            return self._declaring(url, client.client_capabilities)
        own = self._by_session.setdefault(client.id, {})
        entry = own.get(url)
        if entry is None:
            upstream = NegotiatingUpstream(
                url,
                self._pool.http,
                timeout_s=self._timeout_s,
                client_capabilities=client.client_capabilities,
            )
            opened = asyncio.Event()
            follower = asyncio.create_task(
                self._follow(upstream, client, opened), name=f"client events {url}"
            )
            entry = own[url] = (upstream, follower)
            # What the upstream sends on its own right away must find the stream open.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opened.wait(), self._timeout_s)
        return entry[0]

    def _declaring(self, url: str, capabilities: dict) -> Upstream | NegotiatingUpstream:
        """A session shared by the stateless clients declaring these capabilities: what its
        upstream asks comes on each call's own stream, so nobody else hears it."""
        key = (url, orjson.dumps(capabilities, option=orjson.OPT_SORT_KEYS))
        upstream = self._declaring_sessions.pop(key, None)
        if upstream is None:
            upstream = NegotiatingUpstream(
                url, self._pool.http, timeout_s=self._timeout_s, client_capabilities=capabilities
            )
            if len(self._declaring_sessions) >= DECLARING_LIMIT:
                oldest = next(iter(self._declaring_sessions))
                self._retire(self._declaring_sessions.pop(oldest))
        self._declaring_sessions[key] = upstream  # most recently used last
        return upstream.resolved or upstream

    def _retire(self, upstream: NegotiatingUpstream) -> None:
        task = asyncio.get_running_loop().create_task(upstream.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def release(self, client: Session) -> None:
        """The client session ended: end its upstream sessions too."""
        for upstream, follower in self._by_session.pop(client.id, {}).values():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await upstream.close()

    async def close(self) -> None:
        for upstream in self._declaring_sessions.values():
            await upstream.close()
        self._declaring_sessions.clear()
        for client_id in list(self._by_session):
            for upstream, follower in self._by_session.pop(client_id).values():
                follower.cancel()
                await upstream.close()

    async def _follow(self, upstream: Upstream, client: Session, opened: asyncio.Event) -> None:
        for _ in range(3):
            try:
                async for message in upstream.listen(opened):
                    _route(message, upstream, client)
            except SwitchboardError as exc:
                logger.debug("event stream of %s for a client broke: %s", upstream.url, exc.message)
            await asyncio.sleep(1.0)


def _route(message: dict, upstream: Upstream, client: Session) -> None:
    if "method" not in message:
        return
    if "id" in message:
        our_id = client.next_request_id()
        client.pending[our_id] = UpstreamRef(upstream, message["id"])
        message = {**message, "id": our_id}
    client.push(message)
