"""Server-Sent Events framing, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


def encode(data: bytes, *, event: str = "message", event_id: str | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return head.encode() + b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"


@dataclass(slots=True)
class Event:
    data: bytes
    event: str = "message"
    id: str | None = None


class Decoder:
    """Incremental decoder: feed it bytes as they arrive, get complete events back."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = "message"
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events: list[Event] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return events
            line = self._buffer[:newline].removesuffix(b"\r")
            self._buffer = self._buffer[newline + 1 :]
            if not line:
                # An event with no data (e.g. a priming event carrying only an id) is
                # not dispatched, as the SSE spec says.
                data = b"\n".join(self._data)
                if data:
                    events.append(Event(data, self._event, self._id))
                self._data, self._event, self._id = [], "message", None
            elif line.startswith(b"data:"):
                self._data.append(line[5:].removeprefix(b" "))
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode(errors="replace")
            elif line.startswith(b"id:"):
                self._id = line[3:].strip().decode(errors="replace")


def iter_data(body: bytes) -> Iterator[bytes]:
    """The data payload of each `message` event in a complete SSE body."""
    decoder = Decoder()
    for event in decoder.feed(body if body.endswith(b"\n\n") else body + b"\n\n"):
        if event.event == "message":
            yield event.data
