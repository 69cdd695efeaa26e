"""Upstreams' own event streams, for the notifications no request carries:
`notifications/resources/updated` reaches every session, and every listen stream
(2026-07-28), subscribed to that URI.

A watcher starts with the first subscription to an upstream and keeps its GET stream
open (reconnecting with backoff) for as long as the process lives. Each time it
reconnects it asks the pool which session now stands for that URL (`current`): when the
gateway's credentials changed, the pool ended the old session and opened another, and
the watcher moves to the new one, subscribing it again to every URI it followed that
someone still wants (an upstream's subscriptions belong to its session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from switchboard_core.errors import SwitchboardError
from switchboard_core.resilience.backoff import delay
from switchboard_mcp.upstream import NegotiatingUpstream, Upstream

from switchboard_proxy.client_upstreams import wants_own_sessions
from switchboard_proxy.listen_streams import ListenStream, ListenStreams
from switchboard_proxy.sessions import SessionStore

logger = logging.getLogger(__name__)

# Which session the pool now holds for an upstream URL (`UpstreamPool.current`).
Current = Callable[[str], object | None]


@dataclass(slots=True)
class _Followed:
    """One upstream's event stream being followed, and the URIs subscribed on it."""

    uris: set[str] = field(default_factory=set)
    task: asyncio.Task | None = None


class UpstreamEvents:
    def __init__(self, sessions: SessionStore, listens: ListenStreams | None = None) -> None:
        self._sessions = sessions
        self._listens = listens if listens is not None else ListenStreams()
        self._watchers: dict[str, _Followed] = {}

    def watch(
        self, upstream: Upstream | NegotiatingUpstream, uri: str, current: Current | None = None
    ) -> None:
        """Follow `upstream`'s events (once per URL), `uri` among what is subscribed on it."""
        followed = self._watchers.get(upstream.url)
        if followed is None:
            followed = self._watchers[upstream.url] = _Followed()
            followed.task = asyncio.create_task(
                self._follow(upstream, followed, current), name=f"events {upstream.url}"
            )
        followed.uris.add(uri)

    def wanted_by_another(self, uri: str, session=None, stream: ListenStream | None = None) -> bool:
        """Whether another session sharing the pooled upstream sessions, or another listen
        stream, subscribes to `uri`."""
        return self._listens.wanting(uri, besides=stream) or any(
            uri in other.subscriptions and other is not session and not wants_own_sessions(other)
            for other in self._sessions.all()
        )

    def route(self, message: dict) -> None:
        if message.get("method") != "notifications/resources/updated":
            return
        uri = (message.get("params") or {}).get("uri")
        self._listens.route_update(uri, message)
        for session in self._sessions.all():
            if uri in session.subscriptions and not wants_own_sessions(session):
                session.push(message)

    async def _follow(
        self, upstream: Upstream | NegotiatingUpstream, followed: _Followed, current: Current | None
    ) -> None:
        held = current(upstream.url) if current is not None else None
        attempt = 0
        while True:
            now = current(upstream.url) if current is not None else None
            if now is not None and now is not held:
                held = upstream = now
                await self._subscribe_again(upstream, followed)
            try:
                async for message in upstream.listen():
                    attempt = 0
                    self.route(message)
            except SwitchboardError as exc:
                logger.debug("event stream of %s broke: %s", upstream.url, exc.message)
            attempt += 1
            await asyncio.sleep(delay(min(attempt, 6), base=0.5, cap=30.0))

    async def _subscribe_again(self, upstream: Upstream | NegotiatingUpstream, followed: _Followed) -> None:
        """Subscribe a new session of the upstream to what the old one was, where still wanted."""
        for uri in sorted(followed.uris):
            if not self.wanted_by_another(uri):
                followed.uris.discard(uri)
                continue
            try:
                await upstream.request("resources/subscribe", {"uri": uri})
            except SwitchboardError as exc:
                logger.info("could not subscribe again to %s at %s: %s", uri, upstream.url, exc.message)

    async def close(self) -> None:
        tasks = [followed.task for followed in self._watchers.values() if followed.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
