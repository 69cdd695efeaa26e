"""Upstreams' own event streams, for the notifications no request carries:
`notifications/resources/updated` reaches every session, and every listen stream
(2026-07-28), subscribed to that URI.

A watcher starts with the first subscription to an upstream and keeps its GET stream
open (reconnecting with backoff) for as long as the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from switchboard_core.errors import SwitchboardError
from switchboard_core.resilience.backoff import delay
from switchboard_mcp.upstream import UpstreamSession

from switchboard_proxy.client_upstreams import wants_own_sessions
from switchboard_proxy.listen_streams import ListenStream, ListenStreams
from switchboard_proxy.sessions import SessionStore

logger = logging.getLogger(__name__)


class UpstreamEvents:
    def __init__(self, sessions: SessionStore, listens: ListenStreams | None = None) -> None:
        self._sessions = sessions
        self._listens = listens if listens is not None else ListenStreams()
        self._watchers: dict[str, asyncio.Task] = {}

    def watch(self, upstream: UpstreamSession) -> None:
        if upstream.url not in self._watchers:
            self._watchers[upstream.url] = asyncio.create_task(
                self._follow(upstream), name=f"events {upstream.url}"
            )

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

    async def _follow(self, upstream: UpstreamSession) -> None:
        attempt = 0
        while True:
            try:
                async for message in upstream.listen():
                    attempt = 0
                    self.route(message)
            except SwitchboardError as exc:
                logger.debug("event stream of %s broke: %s", upstream.url, exc.message)
            attempt += 1
            await asyncio.sleep(delay(min(attempt, 6), base=0.5, cap=30.0))

    async def close(self) -> None:
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
