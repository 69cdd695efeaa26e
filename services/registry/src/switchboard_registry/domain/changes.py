"""The catalog's change feed: every committed change raises the revision and is announced.

Writers never wait on readers: each subscriber holds only the latest revision it has
not yet taken (a one-slot mailbox), so a slow subscriber skips to the newest
revision instead of queueing every one. Revisions only grow, so "the latest" is
all a cache needs to know that it is stale.

A committed revision is handed to this process's watchers at once and published on
the bus (`registry:catalog`); `change_relay` hands what any replica published to the
watchers of every other one. Embedded, the bus is in-process and adds nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.audit import AuditEvent
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.shared.bus import Bus

from switchboard_registry.domain.audit_outbox import AuditOutbox
from switchboard_registry.store import revision as revision_store

logger = logging.getLogger(__name__)

# The bus channel carrying each new revision (its decimal digits) between replicas.
CHANNEL = "registry:catalog"


class Subscription:
    def __init__(self) -> None:
        self._latest = 0
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, revision: int) -> None:
        if revision > self._latest:
            self._latest = revision
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def after(self, revision: int) -> AsyncIterator[int]:
        """Revisions newer than `revision`, newest first-come; ends when the feed closes."""
        last = revision
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._closed:
                return
            if self._latest > last:
                last = self._latest
                yield last


class ChangeFeed:
    """In-process fan-out of catalog revisions."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, revision: int) -> None:
        for subscription in self._subscriptions:
            subscription.offer(revision)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        if self._closed:
            subscription.close()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every subscription (shutdown); later subscriptions end at once."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close()


class Changes:
    """Catalog-changing transactions, and the revisions they produce."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        feed: ChangeFeed,
        bus: Bus | None = None,
        outbox: AuditOutbox | None = None,
    ) -> None:
        self._sessions = sessions
        self.feed = feed
        self._bus = bus
        self.outbox = outbox

    @asynccontextmanager
    async def change(self, audit: AuditEvent | None = None) -> AsyncIterator[AsyncSession]:
        """A write transaction that raises the revision, announced once it commits; with
        `audit`, the change's audit record commits with it (`audit_outbox`).

        The revision is raised first, so concurrent writers queue on it rather than
        fail on a stale read snapshot.
        """
        async with self._sessions.begin() as s:
            revision = await revision_store.bump(s)
            yield s
            await self.audited(s, audit)
        self.audit_committed(audit)
        await self.announce(revision)

    async def audited(self, s: AsyncSession, audit: AuditEvent | None) -> None:
        """Keep `audit` in the transaction of `s` (when there is an outbox to keep it)."""
        if audit is not None and self.outbox is not None:
            await self.outbox.add(s, audit)

    async def record(self, audit: AuditEvent | None) -> None:
        """Keep `audit` on its own, for what changed no configuration (when there is an outbox)."""
        if audit is not None and self.outbox is not None:
            await self.outbox.keep(audit)

    def audit_committed(self, audit: AuditEvent | None) -> None:
        if audit is not None and self.outbox is not None:
            self.outbox.wake()

    async def announce(self, revision: int) -> None:
        """Tell this process's watchers (at once) and every other replica's of a committed revision."""
        self.feed.publish(revision)
        if self._bus is None:
            return
        try:
            await self._bus.publish(CHANNEL, str(revision).encode())
        except DependencyUnavailable as exc:
            # Committed all the same; other replicas see it at their next recheck (change_relay).
            logger.warning(
                "catalog revision %d was not announced to other replicas: %s", revision, exc.message
            )

    async def current(self) -> int:
        async with self._sessions() as s:
            return await revision_store.current(s)

    async def watch(self) -> AsyncIterator[int]:
        """The current revision, then each newer one as changes commit."""
        with self.feed.subscribe() as subscription:
            current = await self.current()
            yield current
            async for revision in subscription.after(current):
                yield revision
