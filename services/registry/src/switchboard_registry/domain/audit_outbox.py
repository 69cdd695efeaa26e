"""Admin changes of the registry, on their way to the audit log the auth service keeps.

A change's record is written to `audit_outbox` in the transaction that makes the change
(`Changes.change(audit=...)`), so a change is never committed, and so never reported
done, without its record. Delivery is separate: right after the commit the outbox is
woken and sends what it holds to `AuthService.RecordAudit` (with the gRPC deadline),
deleting what auth took. While auth cannot be reached the records wait in the database
(they survive a restart) and delivery is tried again with backoff; auth ignores a
record it already has, so a delivery whose answer was lost may simply be repeated.
A record auth will never take (refused as invalid, too large for a gRPC message, not a
record at all: `audit_delivery` says which failures those are) must not hold back the
ones behind it: the batch is then sent one record at a time, and each refused one is set
aside in the outbox with the reason (kept, logged as an error, counted as
`audit.outbox.refused`, never sent again) while the others go on. Any other failure is
taken as passing and retried with backoff, the records kept in order.
Every replica delivers its own outbox rows and may deliver another's: harmless, for
the same reason.

Records are bounded (`switchboard_core.audit.bounded`) as they enter the outbox, and again
as they are sent when one is larger (kept before the bound existed: `audit_delivery`), so
a change with a huge field is recorded cut down with its size rather than not at all. A
batch is at most `BATCH` records and `_BATCH_BYTES`.

Records travel as the registry made them: the auth service redacts secret-named fields as
it writes its log (the trust boundary), so they are not redacted here too.

Why not ask auth before answering, and fail the change when it does not answer? The
change would already be committed (or the transaction held open across a network call):
a failure would lie, and an auth outage would stop all registry administration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.audit import MAX_RECORD_BYTES, Actor, AuditEvent, bounded
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import InvalidInput, SwitchboardError

from switchboard_registry.domain.access import SYSTEM
from switchboard_registry.store import audit_outbox as store

logger = logging.getLogger(__name__)

# Where records go: serialized `AuditRecord`s to the auth service (`audit_delivery`).
Send = Callable[[list[bytes]], Awaitable[None]]
BATCH = 100
# Far below a gRPC message (16 MiB), whatever the records' bound is set to.
_BATCH_BYTES = 4 * 1024 * 1024
_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 30.0


def event(
    actor: Actor | None, action: str, entity_type: str, entity_id: str, changes: dict | None = None
) -> AuditEvent | None:
    """The record of a change an administrator made; None for the registry's own work
    (health checks, following upstreams), which no one is to answer for."""
    if actor is None or actor is SYSTEM:
        return None
    return AuditEvent.of(actor, action, entity_type, entity_id, changes, service="registry")


class AuditOutbox:
    def __init__(
        self, sessions: async_sessionmaker, send: Send | None, *, max_record_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        self._sessions = sessions
        self._send = send
        self._max_record_bytes = max_record_bytes
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def add(self, s: AsyncSession, event: AuditEvent) -> None:
        """Keep `event` in the transaction of `s`; `wake()` once it committed."""
        await store.add(s, bounded(event, self._max_record_bytes))

    async def keep(self, event: AuditEvent) -> None:
        """Keep `event` in a transaction of its own, for what changed no configuration (a
        refused attempt, a health check asked for), and wake delivery."""
        async with self._sessions.begin() as s:
            await store.add(s, bounded(event, self._max_record_bytes))
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._send is not None and self._task is None:
            self._task = asyncio.create_task(self._deliver_forever(), name="audit outbox")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def waiting(self) -> int:
        async with self._sessions() as s:
            return await store.count(s)

    async def set_aside(self) -> list[tuple[str, str]]:
        """The records auth refused, with its reasons: (id, reason), oldest first."""
        async with self._sessions() as s:
            return await store.refused(s)

    async def _deliver_forever(self) -> None:
        pause = _FIRST_RETRY_S
        while True:
            self._wake.clear()  # before reading: a wake during delivery is not lost
            try:
                emptied = await self.deliver()
            except (SwitchboardError, SQLAlchemyError) as exc:
                logger.warning(
                    "audit records wait to reach the auth service (%s); retry in %.1f s", exc, pause
                )
            except Exception:
                # Top of a background task: whatever went wrong, delivery must go on.
                logger.exception("audit delivery failed unexpectedly; retry in %.1f s", pause)
            else:
                pause = _FIRST_RETRY_S
                if emptied:
                    # Woken by the next change; or after a while, for rows another replica left.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_LAST_RETRY_S):
                            await self._wake.wait()
                continue
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LAST_RETRY_S)

    async def deliver(self) -> bool:
        """Send a batch to auth and drop what it took; True when the outbox is empty."""
        async with self._sessions() as s:
            rows = await store.oldest(s, limit=BATCH)
        if not rows:
            return True
        batch = _within_bytes(rows)
        try:
            await self._send([raw for _, raw in batch])
        except InvalidInput:
            await self._one_at_a_time(batch)
        else:
            async with self._sessions.begin() as s:
                await store.drop(s, [id_ for id_, _ in batch])
        return len(rows) < BATCH and len(batch) == len(rows)

    async def _one_at_a_time(self, rows: list[tuple[str, bytes]]) -> None:
        """Deliver `rows` singly, setting aside each auth will never take; any other failure
        stops it (what was delivered so far is dropped first)."""
        for id_, raw in rows:
            try:
                await self._send([raw])
            except InvalidInput as exc:
                logger.error("auth refused audit record %s (%s): set aside in audit_outbox", id_, exc.message)
                COUNTERS.add("audit.outbox.refused")
                async with self._sessions.begin() as s:
                    await store.set_aside(s, id_, exc.message)
                continue
            async with self._sessions.begin() as s:
                await store.drop(s, [id_])


def _within_bytes(rows: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The oldest of `rows` that together stay within `_BATCH_BYTES` (the first at least)."""
    total = 0
    for taken, (_, raw) in enumerate(rows):
        total += len(raw)
        if total > _BATCH_BYTES and taken:
            return rows[:taken]
    return rows
