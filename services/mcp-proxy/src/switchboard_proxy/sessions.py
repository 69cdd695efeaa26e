"""MCP sessions of the Streamable HTTP transport (in-process store; embedded mode).

A session belongs to the user who opened it on the endpoint it was opened on:
presenting its id with another user's token, or on another server's path, finds
nothing (404), exactly like an unknown id.

Besides its identity a session holds what routes messages back and forth while it
lives: the queue behind its GET stream, the requests upstreams sent its client (to
route the client's answers back), the client's requests in flight (to route
cancellations), and its resource subscriptions.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchboard_proxy.event_log import EventLogs

OUTBOX_LIMIT = 1000


@dataclass(slots=True)
class UpstreamRef:
    """A request id as one upstream session knows it."""

    upstream: Any  # UpstreamSession
    request_id: int | str


@dataclass(slots=True)
class Session:
    id: str
    user_id: str
    server_id: str
    protocol_version: str
    client_info: dict = field(default_factory=dict)
    client_capabilities: dict = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)
    # Server-to-client messages not tied to a request, for the GET stream.
    outbox: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    # Our id of a request an upstream sent the client -> that upstream's own id.
    pending: dict[str, UpstreamRef] = field(default_factory=dict)
    # The client's id of a request in flight -> the upstream's id of its forward.
    inflight: dict[Any, UpstreamRef] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
    # A stateless client's call (2026-07-28): no GET stream, lives as long as the call.
    stateless: bool = False
    events: EventLogs = field(default_factory=EventLogs)
    # Streamed replies still running after their client went away (kept for resumption).
    pumps: set[asyncio.Task] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_request_id(self) -> str:
        return f"sb-{next(self._ids)}"

    def push(self, message: dict) -> bool:
        """Queue a message for the GET stream; False when the client is not keeping up."""
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


class SessionStore:
    def __init__(self, *, idle_ttl_s: float, max_sessions: int = 100_000) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        # Told about every session that ends (deleted or expired).
        self.on_end: Callable[[Session], None] = lambda _session: None

    def create(
        self,
        *,
        user_id: str,
        server_id: str,
        protocol_version: str,
        client_info: dict,
        client_capabilities: dict | None = None,
    ) -> Session:
        if len(self._sessions) >= self._max:
            self.expire()
        session = Session(
            secrets.token_urlsafe(24),
            user_id,
            server_id,
            protocol_version,
            client_info,
            client_capabilities or {},
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, *, user_id: str, server_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None or session.user_id != user_id or session.server_id != server_id:
            return None
        now = time.monotonic()
        if now - session.last_seen > self._idle_ttl_s:
            self.delete(session_id)
            return None
        session.last_seen = now
        return session

    def delete(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self.on_end(session)

    def expire(self) -> int:
        cutoff = time.monotonic() - self._idle_ttl_s
        stale = [sid for sid, s in self._sessions.items() if s.last_seen < cutoff]
        for sid in stale:
            self.delete(sid)
        return len(stale)

    def all(self) -> list[Session]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)
