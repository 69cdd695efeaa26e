"""Stream event logs in Redis, so a stream is resumed on any replica.

The replica writing a stream (a streamed reply, or its GET stream) keeps its log in
process (`event_log`) and mirrors each event to a Redis stream
`switchboard:proxy:events:<session>:<stream>` (entry id `<seq>-1`, capped at the
log's length, expiring with the session), then publishes the stream's name on
`proxy:events:<session>`. A client resuming with `Last-Event-ID` on another replica
is answered from there: the events after the one it saw, then each new one as it is
announced, until the writer closes the stream.

Mirroring runs beside the stream, never in its way: a Redis that is away loses the
mirror (resumption elsewhere then finds nothing), never an event on the stream itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from switchboard_core.errors import SwitchboardError
from switchboard_core.shared.bus import Bus
from switchboard_core.shared.redis_client import REDIS_DOWN, namespaced, reraise_cancellation, unavailable

from switchboard_proxy.event_log import EVENTS_PER_STREAM

logger = logging.getLogger(__name__)

_CLOSED = b"closed"
_EVENT = b"e"
# How long a reader waits for an announcement before looking again anyway.
_POLL_S = 1.0
_OP_TIMEOUT_S = 0.5


def _key(session_id: str, stream_id: str) -> str:
    return namespaced("proxy", "events", session_id, stream_id)


def _channel(session_id: str) -> str:
    return f"proxy:events:{session_id}"


class StreamMirror:
    """The writer's side for one stream: appends in order, off the stream's path."""

    def __init__(self, events: EventMirror, session_id: str, stream_id: str) -> None:
        self._events = events
        self._session_id = session_id
        self._stream_id = stream_id
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._write(), name=f"mirror {stream_id}")
        events.writers.add(self._task)
        self._task.add_done_callback(events.writers.discard)

    def append(self, seq: int, event: bytes) -> None:
        self._queue.put_nowait((seq, event))

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def _write(self) -> None:
        key = _key(self._session_id, self._stream_id)
        seq = 0
        while True:
            item = await self._queue.get()
            fields = {_CLOSED: b"1"} if item is None else {_EVENT: item[1]}
            seq = seq + 1 if item is None else item[0]
            try:
                await self._events.add(key, f"{seq}-1", fields)
                await self._events.announce(self._session_id, self._stream_id)
            except SwitchboardError as exc:
                logger.debug("an event was not mirrored: %s", exc.message)
            if item is None:
                return


class EventMirror:
    def __init__(self, client: Redis, bus: Bus, *, ttl_s: float) -> None:
        self._client = client
        self._bus = bus
        self._ttl_ms = int(ttl_s * 1000)
        self.writers: set[asyncio.Task] = set()
        self.mirrored = 0
        self.errors = 0

    def writer(self, session_id: str, stream_id: str) -> StreamMirror:
        return StreamMirror(self, session_id, stream_id)

    async def add(self, key: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            async with asyncio.timeout(_OP_TIMEOUT_S):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.xadd(key, fields, id=entry_id, maxlen=EVENTS_PER_STREAM, approximate=True)
                    pipe.pexpire(key, self._ttl_ms)
                    await pipe.execute()
            self.mirrored += 1
        except REDIS_DOWN as exc:
            reraise_cancellation()
            self.errors += 1
            raise unavailable("redis", exc) from exc

    async def announce(self, session_id: str, stream_id: str) -> None:
        await self._bus.publish(_channel(session_id), stream_id.encode())

    async def exists(self, session_id: str, stream_id: str) -> bool:
        try:
            async with asyncio.timeout(_OP_TIMEOUT_S):
                return bool(await self._client.exists(_key(session_id, stream_id)))
        except REDIS_DOWN:
            reraise_cancellation()
            return False

    async def follow(self, session_id: str, stream_id: str, after_seq: int) -> AsyncIterator[bytes | None]:
        """The stream's events after `after_seq` as they are mirrored, ending once it is
        closed; None now and then while nothing comes (time for a keep-alive)."""
        key = _key(session_id, stream_id)
        subscription = await self._bus.subscribe(_channel(session_id))
        try:
            while True:
                try:
                    async with asyncio.timeout(_OP_TIMEOUT_S):
                        entries = await self._client.xrange(key, min=f"({after_seq}-1", max="+")
                except REDIS_DOWN:
                    reraise_cancellation()
                    return
                for entry_id, fields in entries:
                    if _CLOSED in fields:
                        return
                    after_seq = int(entry_id.split(b"-")[0])
                    yield fields[_EVENT]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_POLL_S):
                        await anext(subscription)
                        continue
                yield None
        finally:
            await subscription.close()

    async def close(self) -> None:
        for task in list(self.writers):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(_OP_TIMEOUT_S * 2):
                    await task
