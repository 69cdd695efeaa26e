"""In-process fan-out of revocations to every `WatchRevocations` subscriber.

A subscriber gets every revocation published after it subscribed. One that falls
behind by more than its buffer is cut off (its iteration ends) rather than silently
missing a revocation: the caller must then drop its cache and subscribe again.
Closing the feed ends every subscription, present and future, so shutdown does not
wait on open streams. Other replicas' revocations arrive through `shared_revocations`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Revocation:
    token_id: str
    user_id: str


_END = None


class Subscription:
    def __init__(self, capacity: int, on_close: Callable[[Subscription], None]) -> None:
        self._on_close = on_close
        self._queue: asyncio.Queue[Revocation | None] = asyncio.Queue(capacity + 1)
        self._capacity = capacity
        self._ended = False

    def _offer(self, revocation: Revocation) -> bool:
        """Buffers the revocation; False once this subscription has ended."""
        if not self._ended:
            if self._queue.qsize() < self._capacity:
                self._queue.put_nowait(revocation)
            else:
                self._end()
        return not self._ended

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            # The one slot above capacity is reserved for this marker.
            self._queue.put_nowait(_END)

    def close(self) -> None:
        self._on_close(self)
        self._end()

    def __aiter__(self) -> AsyncIterator[Revocation]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Revocation]:
        while (item := await self._queue.get()) is not _END:
            yield item
        self.close()


class RevocationFeed:
    def __init__(self, *, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._subscribers: set[Subscription] = set()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """Starts buffering revocations for a new subscriber; `close()` it when done."""
        subscription = Subscription(self._capacity, self._subscribers.discard)
        if self._closed:
            subscription.close()
        else:
            self._subscribers.add(subscription)
        return subscription

    def publish(self, revocation: Revocation) -> None:
        for subscription in list(self._subscribers):
            if not subscription._offer(revocation):
                self._subscribers.discard(subscription)

    def cut_off_all(self) -> None:
        """End every present subscription (revocations may have been missed); later ones run."""
        for subscription in list(self._subscribers):
            subscription.close()

    def close(self) -> None:
        self._closed = True
        self.cut_off_all()
