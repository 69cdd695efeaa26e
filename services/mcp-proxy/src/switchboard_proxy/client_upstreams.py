"""Upstream sessions of their own for clients that can answer upstream requests.

A client declaring sampling, elicitation or roots may be asked things by an upstream
at any time, also on the upstream's GET stream where nothing says which client is
meant. Such a client therefore gets its own session with each upstream it uses,
initialized with the client's capabilities, and whatever that upstream sends on its
own is this client's: requests are renumbered and queued on the client's GET stream,
notifications are passed on. Clients without those capabilities share one pooled
session per upstream (the fast path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from switchboard_core.errors import SwitchboardError
from switchboard_mcp.upstream import NegotiatingUpstream, Upstream, UpstreamPool

from switchboard_proxy.sessions import Session, UpstreamRef

logger = logging.getLogger(__name__)

ANSWERING_CAPABILITIES = ("sampling", "elicitation", "roots")


def wants_own_sessions(session: Session | None) -> bool:
    return session is not None and any(c in session.client_capabilities for c in ANSWERING_CAPABILITIES)


class ClientUpstreams:
    def __init__(self, pool: UpstreamPool, *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        # client session id -> upstream url -> (its upstream session, the task following its GET stream)
        self._by_session: dict[str, dict[str, tuple[Upstream, asyncio.Task]]] = {}

    async def session_for(self, url: str, client: Session | None) -> Upstream:
        if not wants_own_sessions(client):
            return self._pool.session(url)
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

    async def release(self, client: Session) -> None:
        """The client session ended: end its upstream sessions too."""
        for upstream, follower in self._by_session.pop(client.id, {}).values():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await upstream.close()

    async def close(self) -> None:
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
