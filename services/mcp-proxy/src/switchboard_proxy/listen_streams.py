"""Open `subscriptions/listen` streams (2026-07-28): the stateless revision's
replacement for the session GET stream.

Each stream asked for some notification kinds, and maybe for updates of some
resources; the service announces catalog changes here as it does to sessions, and
resource updates from upstreams (`UpstreamEvents`) reach the streams subscribed to
that URI. Delivery is fire-and-forget with no replay: a stream whose client stops
reading is ended (it re-listens and refetches). `close` ends every stream
gracefully (the endpoint then sends the listen result as the last frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from switchboard_mcp import jsonrpc

# SubscriptionFilter flag -> the notification it lets through.
LIST_CHANGED = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
RESOURCE_SUBSCRIPTIONS = "resourceSubscriptions"
RESOURCE_UPDATED = "notifications/resources/updated"
BACKLOG_LIMIT = 1024


@dataclass(eq=False, slots=True)
class ListenStream:
    subscription_id: str | int
    server_id: str
    honored: dict
    # Notification methods to deliver; None in the queue means "end gracefully".
    methods: frozenset[str] = frozenset()
    # Resource URIs whose updates to deliver.
    resources: frozenset[str] = frozenset()
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(BACKLOG_LIMIT))
    overflowed: bool = False

    def offer(self, method: str) -> None:
        if method in self.methods:
            self._put(jsonrpc.notification(method))

    def offer_update(self, uri: str, notification: dict) -> None:
        if uri in self.resources:
            self._put(notification)

    def end(self) -> None:
        # A full queue still has room for the end marker once the writer drains one item.
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self._drop_one_and_end()

    def _put(self, notification: dict) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(notification)
        except asyncio.QueueFull:
            self.overflowed = True
            self.end()

    def _drop_one_and_end(self) -> None:
        self.queue.get_nowait()
        self.queue.put_nowait(None)


def honored_subset(requested: dict, resources: Iterable[str] = ()) -> dict:
    """What the gateway agrees to deliver of a SubscriptionFilter: the list_changed
    kinds asked for, and the resources it could subscribe to (kinds and URIs it
    cannot serve are left out of the acknowledgement, as the spec asks)."""
    honored: dict = {flag: True for flag in LIST_CHANGED if requested.get(flag) is True}
    resources = list(resources)
    if resources:
        honored[RESOURCE_SUBSCRIPTIONS] = resources
    return honored


def requested_resources(requested: dict) -> list[str]:
    uris = requested.get(RESOURCE_SUBSCRIPTIONS)
    if not isinstance(uris, list):
        return []
    return list(dict.fromkeys(uri for uri in uris if isinstance(uri, str)))


class ListenStreams:
    def __init__(self) -> None:
        self._streams: set[ListenStream] = set()

    def open(
        self, subscription_id: str | int, server_id: str, requested: dict, resources: Iterable[str] = ()
    ) -> ListenStream:
        honored = honored_subset(requested, resources)
        stream = ListenStream(
            subscription_id,
            server_id,
            honored,
            frozenset(LIST_CHANGED[flag] for flag in honored if flag in LIST_CHANGED),
            frozenset(honored.get(RESOURCE_SUBSCRIPTIONS, ())),
        )
        self._streams.add(stream)
        return stream

    def discard(self, stream: ListenStream) -> None:
        self._streams.discard(stream)

    def announce_list_changes(self) -> None:
        for stream in list(self._streams):
            for method in LIST_CHANGED.values():
                stream.offer(method)

    def route_update(self, uri: str, notification: dict) -> None:
        for stream in list(self._streams):
            stream.offer_update(uri, notification)

    def wanting(self, uri: str, *, besides: ListenStream | None = None) -> bool:
        return any(uri in stream.resources and stream is not besides for stream in self._streams)

    def close(self) -> None:
        for stream in list(self._streams):
            stream.end()
        self._streams.clear()

    def __len__(self) -> int:
        return len(self._streams)
