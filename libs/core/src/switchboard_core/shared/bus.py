"""The event bus: services announce changes (a revoked token, a new catalog) and every
replica that caches what changed hears it.

`Bus` has two implementations: `InProcessBus` for the embedded shape (one process,
nothing to lose) and `redis_bus.RedisBus` for replicas sharing Redis. Delivery is at
most once: a subscriber that may have missed messages (Redis was away, or it fell
behind) gets a `Message` with `resync=True` instead, and must then treat everything it
derived from the bus as stale (a cache drops all its entries).

Channel names are the part after `switchboard:` (e.g. `registry:catalog`); a name
with `*`, `?` or `[` is a glob pattern.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Protocol

# A subscriber this far behind loses its backlog and gets a resync instead: the bus
# never blocks a publisher on a slow reader, nor grows without bound.
MAX_PENDING = 1000


@dataclass(frozen=True)
class Message:
    channel: str
    payload: bytes
    resync: bool = False


RESYNC = Message("", b"", resync=True)


def is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


class Subscription:
    """One subscriber's messages: `async for message in subscription`, ended by `close()`."""

    def __init__(self, name: str, on_close: Callable[[Subscription], object]) -> None:
        self.name = name
        self._on_close = on_close
        self._pending: deque[Message] = deque()
        self._arrived = asyncio.Event()
        self._closed = False

    def matches(self, channel: str) -> bool:
        return fnmatchcase(channel, self.name) if is_pattern(self.name) else channel == self.name

    def deliver(self, message: Message) -> None:
        if self._closed:
            return
        if len(self._pending) >= MAX_PENDING:
            # The resync stands for the dropped backlog; what comes after it is kept.
            self._pending.clear()
            self._pending.append(RESYNC)
        if not (message.resync and self._pending and self._pending[-1].resync):
            self._pending.append(message)
        self._arrived.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._pending.popleft()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending.clear()
            self._arrived.set()
            result = self._on_close(self)
            if asyncio.iscoroutine(result):
                await result

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class Bus(Protocol):
    async def publish(self, channel: str, payload: bytes) -> int:
        """Send `payload` to every current subscriber of `channel`, in any replica, and
        say how many processes had one (none: nobody heard it).

        Raises `DependencyUnavailable` (quickly, never hanging) when it cannot be sent.
        """

    async def subscribe(self, name: str) -> Subscription:
        """Subscribe to a channel or pattern; messages published after this returns are seen."""

    async def close(self) -> None:
        """End every subscription and release connections."""


class InProcessBus:
    """The embedded bus: publishing hands the message to this process's subscribers."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    async def publish(self, channel: str, payload: bytes) -> int:
        message = Message(channel, payload)
        heard = 0
        for subscription in list(self._subscriptions):
            if subscription.matches(channel):
                subscription.deliver(message)
                heard = 1  # one process, however many subscribers it has
        return heard

    async def subscribe(self, name: str) -> Subscription:
        subscription = Subscription(name, self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
