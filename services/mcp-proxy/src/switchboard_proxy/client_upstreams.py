"""Upstream sessions of their own for clients that can answer upstream requests.

A client declaring sampling, elicitation or roots may be asked things by an upstream
at any time, also on the upstream's GET stream where nothing says which client is
meant. Such a client therefore gets its own session with each upstream it uses,
initialized with the client's capabilities, and whatever that upstream sends on its
own is this client's: requests are renumbered and queued on the client's GET stream,
notifications are passed on. Clients without those capabilities share one pooled
session per upstream (the fast path). Stateless clients (2026-07-28) declaring such
capabilities share one session per upstream and set of capabilities declared.

When replicas share sessions (`share_through`), a client's upstream session is one
for all of them, so a stateful upstream sees one client: the first replica to need
it claims and initializes it and records it (`upstream_records`); the others adopt
it. One replica at a time follows its GET stream (a lease); what an upstream asks on
the response stream of a POST is answered through the replica that made the POST, as
ever. The session is ended upstream once, when the client session ends: by the
replica the DELETE reached, or by the one noticing its record expired. A replica
forgetting an idle copy, or stopping, leaves it to the others.

An upstream requiring credentials is known here by its URL and the key of its
credentials (an "endpoint", `<url> <key>`): sessions opened with other credentials are
never handed out for it, and a client's session with old ones goes when it first
asks for the new.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from dataclasses import dataclass

import orjson
from switchboard_core.errors import DependencyUnavailable, SwitchboardError
from switchboard_mcp.upstream import (
    HttpClient,
    NegotiatingUpstream,
    Upstream,
    UpstreamAuth,
    UpstreamPool,
    UpstreamSession,
)

from switchboard_proxy.sessions import DELETED, FORGOTTEN, Session, UpstreamRef
from switchboard_proxy.upstream_records import UpstreamRecords

logger = logging.getLogger(__name__)

ANSWERING_CAPABILITIES = ("sampling", "elicitation", "roots")
# Distinct capability sets kept with upstream sessions (least recently used go first).
DECLARING_LIMIT = 256
# Following an upstream session's GET stream: the lease, renewed every third of it.
FOLLOW_LEASE_S = 9.0
# How long a replica that lost the claim waits for the winner to record the session.
CLAIM_WAIT_S = 5.0
_CLAIM_POLL_S = 0.05
_CLAIMED = object()


def wants_own_sessions(session: Session | None) -> bool:
    return session is not None and any(c in session.client_capabilities for c in ANSWERING_CAPABILITIES)


@dataclass(slots=True, eq=False)
class _Own:
    """One client session's upstream session with one upstream, on this replica."""

    upstream: Upstream | NegotiatingUpstream
    # Following its GET stream from here (None: another replica does, or nobody yet).
    follower: asyncio.Task | None = None
    # Recorded for every replica: ended through the record, never by dropping it here.
    shared: bool = False
    # Set once its GET stream is open (or known not to be).
    opened: asyncio.Event | None = None
    # When this replica may next try to take over following it.
    next_lead_try: float = 0.0


class ClientUpstreams:
    def __init__(self, pool: UpstreamPool, *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        # client session id -> upstream endpoint -> its upstream session here
        self._by_session: dict[str, dict[str, _Own]] = {}
        # endpoint -> the credentials it stands for (endpoints without any are bare URLs)
        self._auths: dict[str, UpstreamAuth] = {}
        self._opening: dict[tuple[str, str], asyncio.Lock] = {}
        # (upstream url, capabilities declared) -> the session stateless clients declaring them share.
        self._declaring_sessions: dict[tuple[str, bytes], NegotiatingUpstream] = {}
        self._closing: set[asyncio.Task] = set()
        # Waiting for the records of sessions forgotten here to expire (to end them then).
        self._watching: set[asyncio.Task] = set()
        self._records: UpstreamRecords | None = None
        # Ids of requests in sessions adopted here: a range of this replica's own, so two
        # replicas speaking in one upstream session never send the same id.
        self._id_base = (secrets.randbelow(2**20) + 1) << 32

    def share_through(self, records: UpstreamRecords) -> None:
        """Replicas share sessions: share the clients' upstream sessions too."""
        self._records = records

    async def session_for(
        self, url: str, client: Session | None, auth: UpstreamAuth | None = None
    ) -> Upstream:
        """The session to reach the upstream at `url` with (sending `auth`) for `client`."""
        if not wants_own_sessions(client):
            return self._pool.session(url, auth)
        if auth is not None:
            endpoint = f"{url} {auth.key}"
            self._auths.setdefault(endpoint, auth)
            url = endpoint
        if client.stateless:
            return self._declaring(url, client.client_capabilities)
        own = self._by_session.setdefault(client.id, {})
        entry = own.get(url)
        if entry is None:
            await self._drop_replaced(own, url)
        if entry is None and self._records is None:
            entry = own[url] = self._open_here(url, client)
            await self._wait_open(entry)
        elif entry is None:
            entry = await self._open_shared(url, client, own)
        elif entry.shared and entry.follower is None and time.monotonic() >= entry.next_lead_try:
            await self._lead(entry, url, client)  # whoever followed it may be gone
        return entry.upstream

    def _reach(self, endpoint: str) -> tuple[str, HttpClient]:
        """The URL of an endpoint, and the client sending its credentials."""
        url, _, key = endpoint.partition(" ")
        return url, self._pool.clients.client(self._auths.get(endpoint) if key else None)

    async def _drop_replaced(self, own: dict[str, _Own], endpoint: str) -> None:
        """The client's sessions with the same upstream under other credentials: gone."""
        url = endpoint.partition(" ")[0]
        for other in [e for e in own if e != endpoint and e.partition(" ")[0] == url]:
            entry = own.pop(other)
            await self._drop(entry, end=not entry.shared)

    def _open_here(self, url: str, client: Session) -> _Own:
        """An upstream session of this replica's alone, followed from here."""
        upstream = NegotiatingUpstream(
            *self._reach(url),
            timeout_s=self._timeout_s,
            answer_wait_s=self._pool.answer_wait_s,
            client_capabilities=client.client_capabilities,
        )
        entry = _Own(upstream)
        self._start_following(entry, client, None)
        return entry

    def _start_following(self, entry: _Own, client: Session, url: str | None) -> None:
        """Follow the upstream session's GET stream (`url`: while holding the lease on it)."""
        entry.opened = asyncio.Event()
        if url is None:
            follow = self._follow(entry.upstream, client, entry.opened)
        else:
            follow = self._follow_leading(entry, client, url, entry.opened)
        entry.follower = asyncio.create_task(follow, name=f"client events {entry.upstream.url}")

    async def _wait_open(self, entry: _Own) -> None:
        # What the upstream sends on its own right away must find the stream open.
        if entry.opened is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.opened.wait(), self._timeout_s)

    # -- shared by replicas ------------------------------------------------------

    async def _open_shared(self, url: str, client: Session, own: dict[str, _Own]) -> _Own:
        lock = self._opening.setdefault((client.id, url), asyncio.Lock())
        try:
            async with lock:
                entry = own.get(url)
                if entry is None:
                    entry = await self._claim_or_adopt(url, client)
                    if self._by_session.get(client.id) is own:
                        own[url] = entry
                    else:  # the client session ended meanwhile
                        await self._drop(entry, end=not entry.shared)
        finally:
            self._opening.pop((client.id, url), None)
        return entry

    async def _claim_or_adopt(self, url: str, client: Session) -> _Own:
        try:
            state = await self._recorded(client.id, url)
        except DependencyUnavailable as exc:
            logger.warning("upstream session of a client not shared (%s): %s", url, exc.message)
            state = None
        if state is _CLAIMED:
            return await self._open_claimed(url, client)
        if state is None or state.get("unshared"):
            entry = self._open_here(url, client)
            await self._wait_open(entry)
            return entry
        upstream = UpstreamSession(
            *self._reach(url),
            timeout_s=self._timeout_s,
            answer_wait_s=self._pool.answer_wait_s,
            client_capabilities=client.client_capabilities,
            ids=itertools.count(self._id_base),
        )
        upstream.adopt(state)
        self._keep_recorded(upstream, client.id, url)
        entry = _Own(upstream, shared=True)
        await self._lead(entry, url, client)
        return entry

    async def _recorded(self, session_id: str, url: str) -> dict | object | None:
        """The recorded upstream session; `_CLAIMED` when this replica is to open it; None
        when the replica that claimed it does not record it in time (then this replica
        opens one of its own)."""
        records = self._records
        deadline = time.monotonic() + CLAIM_WAIT_S
        while True:
            state = await records.load(session_id, url)
            if state is None and await records.claim(session_id, url):
                return _CLAIMED
            if state is not None and _usable(state):
                return state
            if time.monotonic() >= deadline:
                logger.warning("no upstream session recorded for a client at %s in time", url)
                return None
            await asyncio.sleep(_CLAIM_POLL_S)

    async def _open_claimed(self, url: str, client: Session) -> _Own:
        records = self._records
        upstream = NegotiatingUpstream(
            *self._reach(url),
            timeout_s=self._timeout_s,
            answer_wait_s=self._pool.answer_wait_s,
            client_capabilities=client.client_capabilities,
        )
        try:
            await upstream.connect()
        except BaseException:
            with contextlib.suppress(DependencyUnavailable):
                await records.unclaim(client.id, url)
            raise
        resolved = upstream.resolved
        state = resolved.shared_state if isinstance(resolved, UpstreamSession) else None
        try:
            await records.store(client.id, url, state or {"unshared": True})
        except DependencyUnavailable as exc:
            logger.warning("upstream session of a client not recorded (%s): %s", url, exc.message)
            state = None
        if state is None:
            entry = _Own(upstream)
            self._start_following(entry, client, None)
            await self._wait_open(entry)
            return entry
        self._keep_recorded(resolved, client.id, url)
        entry = _Own(resolved, shared=True)
        await self._lead(entry, url, client)
        return entry

    def _keep_recorded(self, upstream: UpstreamSession, session_id: str, url: str) -> None:
        """Should the upstream forget the session (a restart), the replica meeting that
        first opens a new one and records it; the others adopt it from the record."""

        async def rejoin(_gone_session_id: str) -> dict | None:
            try:
                return await self._records.load(session_id, url)
            except DependencyUnavailable:
                return None

        async def record(state: dict) -> None:
            with contextlib.suppress(DependencyUnavailable):
                await self._records.store(session_id, url, state)

        upstream.rejoin = rejoin
        upstream.on_reopened = record

    async def _lead(self, entry: _Own, url: str, client: Session) -> None:
        """Follow the upstream session's GET stream from here, unless another replica does."""
        entry.next_lead_try = time.monotonic() + FOLLOW_LEASE_S / 3
        try:
            leads = await self._records.lead(client.id, url, FOLLOW_LEASE_S)
        except DependencyUnavailable:
            return
        if leads:
            self._start_following(entry, client, url)
            await self._wait_open(entry)

    async def _follow_leading(self, entry: _Own, client: Session, url: str, opened: asyncio.Event) -> None:
        follow = asyncio.create_task(self._follow(entry.upstream, client, opened))
        try:
            while not follow.done():
                await asyncio.wait({follow}, timeout=FOLLOW_LEASE_S / 3)
                if not follow.done() and not await self._keep_lead(client.id, url):
                    logger.info("lost the lead on the event stream of %s for a client", url)
                    break
        finally:
            follow.cancel()
            await asyncio.wait({follow})
            with contextlib.suppress(DependencyUnavailable):
                await self._records.resign(client.id, url)
            if entry.follower is asyncio.current_task():
                entry.follower = None

    async def _keep_lead(self, session_id: str, url: str) -> bool:
        try:
            return await self._records.keep_lead(session_id, url, FOLLOW_LEASE_S)
        except DependencyUnavailable:
            return False

    async def _end_recorded(self, session_id: str) -> None:
        """End the client session's recorded upstream sessions (whoever takes the record)."""
        try:
            taken = await self._records.take(session_id)
        except DependencyUnavailable as exc:
            logger.warning("upstream sessions of an ended client left to expire: %s", exc.message)
            return
        for url, state in taken.items():
            if _usable(state):
                upstream = UpstreamSession(
                    *self._reach(url), timeout_s=self._timeout_s, answer_wait_s=self._pool.answer_wait_s
                )
                upstream.adopt(state)
                await upstream.close()

    async def _end_when_expired(self, session_id: str) -> None:
        """Forgotten here: end its upstream sessions once its record has expired, unless
        another replica still serves it (and will see to that itself)."""
        try:
            left = await self._records.session_expires_in(session_id)
            while left is not None:
                await asyncio.sleep(left + 0.1)
                left = await self._records.session_expires_in(session_id)
        except DependencyUnavailable:
            return
        await self._end_recorded(session_id)

    # -- stateless clients -------------------------------------------------------

    def _declaring(self, url: str, capabilities: dict) -> Upstream | NegotiatingUpstream:
        """A session shared by the stateless clients declaring these capabilities: what its
        upstream asks comes on each call's own stream, so nobody else hears it."""
        key = (url, orjson.dumps(capabilities, option=orjson.OPT_SORT_KEYS))
        upstream = self._declaring_sessions.pop(key, None)
        if upstream is None:
            upstream = NegotiatingUpstream(
                *self._reach(url),
                timeout_s=self._timeout_s,
                answer_wait_s=self._pool.answer_wait_s,
                client_capabilities=capabilities,
            )
            if len(self._declaring_sessions) >= DECLARING_LIMIT:
                oldest = next(iter(self._declaring_sessions))
                self._in_background(self._declaring_sessions.pop(oldest).close(), self._closing)
        self._declaring_sessions[key] = upstream  # most recently used last
        return upstream.resolved or upstream

    @staticmethod
    def _in_background(work, tasks: set[asyncio.Task]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # -- endings -----------------------------------------------------------------

    async def release(self, client: Session) -> None:
        """The client session ended here: end its upstream sessions too, or, when they are
        shared with other replicas, see that they end once."""
        entries = self._by_session.pop(client.id, {}).values()
        for entry in entries:
            await self._drop(entry, end=not entry.shared)
        if self._records is None:
            return
        if client.ending == DELETED:
            await self._end_recorded(client.id)
        elif client.ending == FORGOTTEN and any(entry.shared for entry in entries):
            self._in_background(self._end_when_expired(client.id), self._watching)

    async def _drop(self, entry: _Own, *, end: bool) -> None:
        if entry.follower is not None:
            entry.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.follower
        if end:
            await entry.upstream.close()

    async def close(self) -> None:
        """The replica stops: sessions it shares with others stay open for them."""
        for task in list(self._watching):
            task.cancel()
        for upstream in self._declaring_sessions.values():
            await upstream.close()
        self._declaring_sessions.clear()
        for client_id in list(self._by_session):
            for entry in self._by_session.pop(client_id).values():
                await self._drop(entry, end=not entry.shared)

    async def _follow(self, upstream: Upstream, client: Session, opened: asyncio.Event) -> None:
        for _ in range(3):
            try:
                async for message in upstream.listen(opened):
                    _route(message, upstream, client)
            except SwitchboardError as exc:
                logger.debug("event stream of %s for a client broke: %s", upstream.url, exc.message)
            await asyncio.sleep(1.0)


def _usable(state: dict) -> bool:
    return "session_id" in state or bool(state.get("unshared"))


def _route(message: dict, upstream: Upstream, client: Session) -> None:
    if "method" not in message:
        return
    if "id" in message:
        our_id = client.next_request_id()
        client.pending[our_id] = UpstreamRef(upstream, message["id"])
        message = {**message, "id": our_id}
    client.push(message)
