"""The events of a session's SSE streams, kept so a client that lost a stream can
resume it: `GET` with `Last-Event-ID: <stream>:<n>` replays only that stream's events
after n, then follows it live.

Event ids name their stream (`r3:7` is event 7 of the session's third streamed reply;
`g:4` event 4 of its GET stream); when replicas share sessions the stream names carry
the writing replica (`r<replica>.3`, `g<replica>`) and each event is mirrored to Redis
(`event_mirror`) for a resumption on another replica. Each log keeps its last
`EVENTS_PER_STREAM` events and a session its last `STREAMS_PER_SESSION` logs: replay
is bounded, never the only copy of anything a client must have.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

import orjson
from switchboard_mcp import sse

EVENTS_PER_STREAM = 1000
STREAMS_PER_SESSION = 32
GET_STREAM = "g"


class Mirror(Protocol):
    def append(self, seq: int, event: bytes) -> None: ...

    def close(self) -> None: ...


class StreamLog:
    def __init__(self, stream_id: str, mirror: Mirror | None = None) -> None:
        self.stream_id = stream_id
        self._mirror = mirror
        self._events: deque[tuple[int, bytes]] = deque(maxlen=EVENTS_PER_STREAM)
        self._seq = 0
        self.closed = False
        self._waiters: list[asyncio.Future] = []

    def append(self, message: dict) -> None:
        self._seq += 1
        event_id = f"{self.stream_id}:{self._seq}"
        event = sse.encode(orjson.dumps(message), event_id=event_id)
        self._events.append((self._seq, event))
        if self._mirror is not None:
            self._mirror.append(self._seq, event)
        self._wake()

    def close(self) -> None:
        if not self.closed and self._mirror is not None:
            self._mirror.close()
        self.closed = True
        self._wake()

    def after(self, seq: int) -> list[tuple[int, bytes]]:
        return [(n, event) for n, event in self._events if n > seq]

    def priming_event(self) -> bytes:
        """An event with an id and no data, so a client can resume before any message."""
        return f"id: {self.stream_id}:{self._seq}\nretry: 1000\ndata: \n\n".encode()

    @property
    def last_seq(self) -> int:
        return self._seq

    def changed(self) -> asyncio.Future:
        """A future done at the next append or close. Registered at once, so a follower
        that takes it before looking at the log misses nothing appended after."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters = [w for w in self._waiters if not w.done()]
        self._waiters.append(waiter)
        return waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class EventLogs:
    """A session's stream logs, the oldest forgotten first."""

    def __init__(self, replica: str = "", mirror: Callable[[str], Mirror] | None = None) -> None:
        self._logs: OrderedDict[str, StreamLog] = OrderedDict()
        self._count = 0
        self._reply_prefix = f"r{replica}." if replica else "r"
        self.get_stream_id = f"{GET_STREAM}{replica}"
        self._mirror = mirror

    def open_reply_stream(self) -> StreamLog:
        self._count += 1
        return self._keep(self._new(f"{self._reply_prefix}{self._count}"))

    def get_stream(self) -> StreamLog:
        log = self._logs.get(self.get_stream_id)
        return log if log is not None else self._keep(self._new(self.get_stream_id))

    def _new(self, stream_id: str) -> StreamLog:
        return StreamLog(stream_id, self._mirror(stream_id) if self._mirror is not None else None)

    def find(self, last_event_id: str) -> tuple[StreamLog, int] | None:
        stream_id, _, seq = last_event_id.rpartition(":")
        log = self._logs.get(stream_id)
        if log is None or not seq.isdigit():
            return None
        return log, int(seq)

    def _keep(self, log: StreamLog) -> StreamLog:
        self._logs[log.stream_id] = log
        while len(self._logs) > STREAMS_PER_SESSION:
            self._logs.popitem(last=False)
        return log
