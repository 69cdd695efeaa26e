"""The events of a session's SSE streams, kept so a client that lost a stream can
resume it: `GET` with `Last-Event-ID: <stream>:<n>` replays only that stream's events
after n, then follows it live.

Event ids name their stream (`r3:7` is event 7 of the session's third streamed reply;
`g:4` event 4 of its GET stream). Each log keeps its last `EVENTS_PER_STREAM` events and
a session its last `STREAMS_PER_SESSION` logs: replay is bounded, never the only copy
of anything a client must have.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

import orjson
from switchboard_mcp import sse

EVENTS_PER_STREAM = 1000
STREAMS_PER_SESSION = 32
GET_STREAM = "g"


class StreamLog:
    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self._events: deque[tuple[int, bytes]] = deque(maxlen=EVENTS_PER_STREAM)
        self._seq = 0
        self.closed = False
        self._waiters: list[asyncio.Future] = []

    def append(self, message: dict) -> None:
        self._seq += 1
        event_id = f"{self.stream_id}:{self._seq}"
        self._events.append((self._seq, sse.encode(orjson.dumps(message), event_id=event_id)))
        self._wake()

    def close(self) -> None:
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

    async def changed(self) -> None:
        """Return at the next append or close (every follower is woken)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class EventLogs:
    """A session's stream logs, the oldest forgotten first."""

    def __init__(self) -> None:
        self._logs: OrderedDict[str, StreamLog] = OrderedDict()
        self._count = 0

    def open_reply_stream(self) -> StreamLog:
        self._count += 1
        return self._keep(StreamLog(f"r{self._count}"))

    def get_stream(self) -> StreamLog:
        log = self._logs.get(GET_STREAM)
        return log if log is not None else self._keep(StreamLog(GET_STREAM))

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
