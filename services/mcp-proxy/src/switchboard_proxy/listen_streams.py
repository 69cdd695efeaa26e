"""Open `subscriptions/listen` streams (2026-07-28): the stateless revision's
replacement for the session GET stream.

Each stream asked for some notification kinds; the service announces catalog
changes here as it does to sessions, and every stream that opted in to a kind
gets it. Delivery is fire-and-forget with no replay: a stream whose client stops
reading is ended (it re-listens and refetches). `close` ends every stream
gracefully (the endpoint then sends the listen result as the last frame).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

# SubscriptionFilter flag -> the notification it lets through.
LIST_CHANGED = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
BACKLOG_LIMIT = 1024


@dataclass(eq=False, slots=True)
class ListenStream:
    subscription_id: str | int
    server_id: str
    honored: dict
    # Notification methods to deliver; None in the queue means "end gracefully".
    methods: frozenset[str] = frozenset()
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(BACKLOG_LIMIT))
    overflowed: bool = False

    def offer(self, method: str) -> None:
        if method not in self.methods or self.overflowed:
            return
        try:
            self.queue.put_nowait(method)
        except asyncio.QueueFull:
            self.overflowed = True
            self.end()

    def end(self) -> None:
        # A full queue still has room for the end marker once the writer drains one item.
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self._drop_one_and_end()

    def _drop_one_and_end(self) -> None:
        self.queue.get_nowait()
        self.queue.put_nowait(None)


def honored_subset(requested: dict) -> dict:
    """What the gateway agrees to deliver of a SubscriptionFilter: the list_changed
    kinds asked for. Resource subscriptions are not offered on listen streams
    (they are left out of the acknowledgement, as the spec asks for kinds a
    server does not support)."""
    return {flag: True for flag in LIST_CHANGED if requested.get(flag) is True}


class ListenStreams:
    def __init__(self) -> None:
        self._streams: set[ListenStream] = set()

    def open(self, subscription_id: str | int, server_id: str, requested: dict) -> ListenStream:
        honored = honored_subset(requested)
        stream = ListenStream(
            subscription_id, server_id, honored, frozenset(LIST_CHANGED[flag] for flag in honored)
        )
        self._streams.add(stream)
        return stream

    def discard(self, stream: ListenStream) -> None:
        self._streams.discard(stream)

    def announce_list_changes(self) -> None:
        for stream in list(self._streams):
            for method in LIST_CHANGED.values():
                stream.offer(method)

    def close(self) -> None:
        for stream in list(self._streams):
            stream.end()
        self._streams.clear()

    def __len__(self) -> int:
        return len(self._streams)
