"""MCP sessions of the Streamable HTTP transport.

A session belongs to the user who opened it on the endpoint it was opened on:
presenting its id with another user's token, or on another server's path, finds
nothing (404), exactly like an unknown id.

Each replica keeps the sessions it serves in process; with shared records (Redis,
`session_records`) a session opened on one replica is found by any other on its
first request there, and ending it ends it everywhere. A replica forgetting an idle
session locally leaves the shared record alone: it lives while some replica uses it.

A user holds at most `max_per_user` sessions at once (counted per replica's store when
embedded, in Redis beside the records when shared): one more is refused with
`RateLimited` until one is deleted or expires. What a client puts into a session at
initialize (`clientInfo`, `capabilities`) is refused past `state_problem`'s bound, so
no client makes the store (or Redis) keep megabytes for it.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchboard_proxy.event_log import EventLogs
from switchboard_proxy.session_records import LocalRecords, SessionRecords, too_many

OUTBOX_LIMIT = 1000
# Resource subscriptions one session may hold (each one an upstream's, and kept until
# the session ends).
SUBSCRIPTIONS_LIMIT = 1000

# Why a session ended on this replica (`Session.ending`, set before `on_end` is told):
# its client deleted it here, it was deleted on another replica, or it sat idle here
# (which ends it when no other replica shares it).
DELETED, ENDED_ELSEWHERE, FORGOTTEN = "deleted", "ended elsewhere", "forgotten"


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
    # The replica that opened or adopted this copy: it prefixes the ids of requests
    # sent to the client, so an answer arriving at another replica finds its way back.
    replica: str = ""
    # GET streams of this session open on this replica.
    streams_here: int = 0
    # Carries a message for the GET stream to the replica holding it, when none is open here.
    elsewhere: Callable[[str, dict], None] | None = None
    # A stateless client's call (2026-07-28): no GET stream, lives as long as the call.
    stateless: bool = False
    events: EventLogs = field(default_factory=EventLogs)
    # Streamed replies still running after their client went away (kept for resumption).
    pumps: set[asyncio.Task] = field(default_factory=set)
    ending: str = ""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_request_id(self) -> str:
        if self.replica:
            return f"sb-{self.replica}-{next(self._ids)}"
        return f"sb-{next(self._ids)}"

    def hears_here(self) -> bool:
        """Whether this replica tells the session about changes every replica sees (catalog
        changes): when its GET stream is here, or when there is no other replica."""
        return self.streams_here > 0 or self.elsewhere is None

    def may_subscribe(self, uri: str) -> bool:
        """Whether one more subscription (to `uri`) stays within `SUBSCRIPTIONS_LIMIT`."""
        return uri in self.subscriptions or len(self.subscriptions) < SUBSCRIPTIONS_LIMIT

    def record(self) -> dict:
        """What another replica needs to serve this session."""
        return {
            "user_id": self.user_id,
            "server_id": self.server_id,
            "protocol_version": self.protocol_version,
            "client_info": self.client_info,
            "client_capabilities": self.client_capabilities,
        }

    def push(self, message: dict) -> bool:
        """Queue a message for the GET stream (here, or on the replica holding it); False
        when the client is not keeping up."""
        if self.streams_here == 0 and self.elsewhere is not None:
            self.elsewhere(self.id, message)
            return True
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


def state_problem(params: dict, limit_bytes: int) -> str | None:
    """Why an initialize's `clientInfo` and `capabilities` may not be kept by a session:
    not objects, or more than `limit_bytes` of JSON together."""
    kept = (params.get("clientInfo"), params.get("capabilities"))
    if any(part is not None and not isinstance(part, dict) for part in kept):
        return "initialize: clientInfo and capabilities must be objects"
    size = sum(len(orjson.dumps(part)) for part in kept if part)
    if size > limit_bytes:
        return (
            f"initialize: clientInfo and capabilities take {size} bytes of JSON; "
            f"a session keeps at most {limit_bytes}"
        )
    return None


def replica_of(request_id: object) -> str | None:
    """The replica that sent the client request `request_id` (`sb-<replica>-<n>`)."""
    if not isinstance(request_id, str) or not request_id.startswith("sb-"):
        return None
    replica, _, number = request_id[3:].partition("-")
    return replica if number.isdigit() else None


class SessionStore:
    def __init__(
        self,
        *,
        idle_ttl_s: float,
        max_sessions: int = 100_000,
        max_per_user: int = 100,
        records: SessionRecords | None = None,
        replica: str = "",
    ) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._max = max_sessions
        self._max_per_user = max_per_user
        self._records = records or LocalRecords()
        self._shared = not isinstance(self._records, LocalRecords)
        self.replica = replica
        self._sessions: dict[str, Session] = {}
        # Session ids per user, so counting a user's sessions never walks everyone's.
        self._by_user: dict[str, set[str]] = {}
        # Told about every session that ends here (deleted, expired, or ended elsewhere).
        self.on_end: Callable[[Session], None] = lambda _session: None
        # Told about a session deleted here, to tell the other replicas.
        self.on_delete: Callable[[str], Awaitable[None]] = _nothing
        # A session's stream logs (mirrored to Redis when replicas share sessions).
        self.event_logs: Callable[[str], EventLogs] = lambda _session_id: EventLogs()
        # Where GET-stream messages go when the stream is on another replica (the relay).
        self.outbox_elsewhere: Callable[[str, dict], None] | None = None

    @property
    def idle_ttl_s(self) -> float:
        return self._idle_ttl_s

    async def create(
        self,
        *,
        user_id: str,
        server_id: str,
        protocol_version: str,
        client_info: dict,
        client_capabilities: dict | None = None,
    ) -> Session:
        """A new session, recorded where every replica finds it before it is handed out;
        `RateLimited` when its user holds `max_per_user` already."""
        if len(self._sessions) >= self._max:
            self.expire()
        if not self._shared:
            self._admit(user_id)
        session = Session(
            secrets.token_urlsafe(24),
            user_id,
            server_id,
            protocol_version,
            client_info,
            client_capabilities or {},
            replica=self.replica,
        )
        session.events = self.event_logs(session.id)
        session.elsewhere = self.outbox_elsewhere
        await self._records.save(session.id, session.record(), self._idle_ttl_s, self._max_per_user)
        self._add(session)
        return session

    def _admit(self, user_id: str) -> None:
        """Refuse a user's next session while they hold their limit (sessions idle past
        the TTL are ended first: they no longer count)."""
        held = self._by_user.get(user_id, ())
        if len(held) < self._max_per_user:
            return
        now = time.monotonic()
        sessions = [self._sessions[sid] for sid in held]
        for session in sessions:
            if now - session.last_seen > self._idle_ttl_s:
                self._drop(session.id, FORGOTTEN)
        if len(self._by_user.get(user_id, ())) >= self._max_per_user:
            soonest = min(s.last_seen for s in sessions if s.id in self._sessions)
            raise too_many(self._max_per_user, soonest + self._idle_ttl_s - now)

    def _add(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._by_user.setdefault(session.user_id, set()).add(session.id)

    def get(self, session_id: str, *, user_id: str, server_id: str) -> Session | None:
        """A session this replica holds (a legacy SSE session is held where its stream is)."""
        session = self._sessions.get(session_id)
        if session is None or session.user_id != user_id or session.server_id != server_id:
            return None
        now = time.monotonic()
        if now - session.last_seen > self._idle_ttl_s:
            self._drop(session_id, FORGOTTEN)
            return None
        session.last_seen = now
        return session

    async def find(self, session_id: str, *, user_id: str, server_id: str) -> Session | None:
        """A session held here, else one another replica opened (adopted from its record)."""
        session = self.get(session_id, user_id=user_id, server_id=server_id)
        if session is not None or not self._shared or not session_id:
            return session
        record = await self._record(session_id, user_id=user_id, server_id=server_id)
        if record is None:
            return None
        session = self._sessions.get(session_id)  # adopted meanwhile by a concurrent request
        if session is None:
            session = Session(
                session_id,
                user_id,
                server_id,
                record.get("protocol_version", ""),
                record.get("client_info") or {},
                record.get("client_capabilities") or {},
                replica=self.replica,
            )
            session.events = self.event_logs(session_id)
            session.elsewhere = self.outbox_elsewhere
            self._add(session)
        return session

    async def recorded(self, session_id: str, *, user_id: str, server_id: str) -> bool:
        """Whether the shared records know the session as this user's on this server path
        (one another replica serves: nothing is adopted here)."""
        if not self._shared or not session_id:
            return False
        return await self._record(session_id, user_id=user_id, server_id=server_id) is not None

    async def _record(self, session_id: str, *, user_id: str, server_id: str) -> dict | None:
        record = await self._records.load(session_id)
        if record is None or record.get("user_id") != user_id or record.get("server_id") != server_id:
            return None
        return record

    def local(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    async def delete(self, session_id: str) -> None:
        """End a session everywhere (the client's DELETE)."""
        session = self._drop(session_id, DELETED)
        if self._shared:
            await self._records.forget(session_id, session.user_id if session else "")
            await self.on_delete(session_id)

    def ended_elsewhere(self, session_id: str) -> None:
        self._drop(session_id, ENDED_ELSEWHERE)

    def expire(self) -> int:
        """Forget sessions idle here; in embedded mode that ends them."""
        cutoff = time.monotonic() - self._idle_ttl_s
        stale = [sid for sid, s in self._sessions.items() if s.last_seen < cutoff]
        for sid in stale:
            self._drop(sid, FORGOTTEN)
        return len(stale)

    async def refresh(self, within_s: float) -> None:
        """Keep the shared records of sessions used here lately from expiring."""
        if self._shared:
            cutoff = time.monotonic() - within_s
            await self._records.refresh(
                [(sid, s.user_id) for sid, s in self._sessions.items() if s.last_seen >= cutoff],
                self._idle_ttl_s,
            )

    def _drop(self, session_id: str, why: str) -> Session | None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            held = self._by_user.get(session.user_id)
            if held is not None:
                held.discard(session_id)
                if not held:
                    del self._by_user[session.user_id]
            session.ending = why
            if why != FORGOTTEN and session.streams_here:
                # An ended session's GET stream ends too: it would hold its connection
                # (and the session) for as long as the client liked, past any limit.
                session.events.get_stream().close()
            self.on_end(session)
        return session

    def all(self) -> list[Session]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)


async def _nothing(_session_id: str) -> None:
    return None
