"""Server-Sent Events framing, both ways."""

from __future__ import annotations

from collections.abc import Iterator


def encode(data: bytes, *, event: str = "message", event_id: str | None = None) -> bytes:
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "")
    return head.encode() + b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"


def iter_data(body: bytes) -> Iterator[bytes]:
    """The data payload of each `message` event in a complete SSE body."""
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        event = b"message"
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip()
        if data and event == b"message":
            yield b"\n".join(data)
