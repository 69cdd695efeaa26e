"""The one Redis pub/sub connection of a process, kept alive for the bus.

A reader task owns the connection: it hands messages to the bus, PINGs on quiet lines
so that a Redis gone silent is noticed (not only one that closed the socket), and when
the connection fails it reconnects with backoff and subscribes to every name the bus
still wants. Once Redis has confirmed them all after a reconnection, the bus is told to
resync its subscribers: what was published meanwhile is lost for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from switchboard_core.resilience.backoff import delay
from switchboard_core.shared.bus import is_pattern
from switchboard_core.shared.redis_client import (
    REDIS_DOWN,
    RedisConfig,
    cancel_until_done,
    namespaced,
    reraise_cancellation,
)

logger = logging.getLogger(__name__)

# Keeps the connection open (and watched) while nobody has subscribed yet.
_CONTROL = "bus"
# Reconnecting stays quick after long outages: caches are stale until it succeeds.
_RECONNECT_CAP_S = 5.0


class LinkListener(Protocol):
    def names(self) -> list[str]: ...

    def received(self, kind: str, message: dict) -> None: ...

    def reconnected(self) -> None: ...

    def disconnected(self) -> None: ...


def send(pubsub: PubSub, name: str, *, subscribe: bool) -> Awaitable[None]:
    """(P)SUBSCRIBE or (P)UNSUBSCRIBE `name` (a channel or pattern) on the connection."""
    full = namespaced(name).encode()
    if is_pattern(name):
        return pubsub.psubscribe(full) if subscribe else pubsub.punsubscribe(full)
    return pubsub.subscribe(full) if subscribe else pubsub.unsubscribe(full)


class PubSubLink:
    def __init__(
        self,
        client: Redis,
        config: RedisConfig,
        listener: LinkListener,
        *,
        ping_interval_s: float,
        confirm_timeout_s: float,
    ) -> None:
        self._client = client
        self._config = config
        self._listener = listener
        self._ping_interval_s = ping_interval_s
        self._confirm_timeout_s = confirm_timeout_s
        self.changes = asyncio.Lock()  # subscription changes vs. (re)connecting
        self.pubsub: PubSub | None = None  # the live connection, to send (un)subscriptions on
        self.connected = asyncio.Event()
        self._lost = False  # messages may have been missed since the last connection
        self._reader: asyncio.Task[None] | None = None
        self.failures = 0
        self.reconnects = 0

    def start(self) -> None:
        self._reader = asyncio.create_task(self._run(), name="event bus reader")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        await cancel_until_done(reader, every_s=1.0)

    async def _run(self) -> None:
        while True:
            try:
                await self._serve()
            except Exception as exc:  # the reader's top level: whatever broke, reconnect
                reraise_cancellation()
                self.failures += 1
                if not isinstance(exc, REDIS_DOWN):
                    logger.exception("event bus reader failed; reconnecting")
                elif self.failures == 1:
                    logger.warning("event bus lost Redis at %s (%s); reconnecting", self._config.where, exc)
                pause = delay(self.failures, base=self._config.retry_interval_s, cap=_RECONNECT_CAP_S)
                await asyncio.sleep(pause)

    async def _serve(self) -> None:
        pubsub = self._client.pubsub()
        try:
            async with self.changes:
                names = [_CONTROL, *self._listener.names()]
                channels = [namespaced(n).encode() for n in names if not is_pattern(n)]
                patterns = [namespaced(n).encode() for n in names if is_pattern(n)]
                await pubsub.subscribe(*channels)
                if patterns:
                    await pubsub.psubscribe(*patterns)
                self.pubsub = pubsub
            await self._read(pubsub, awaiting={*channels, *patterns})
        finally:
            self.pubsub = None
            self.connected.clear()
            self._lost = True
            self._listener.disconnected()
            await pubsub.aclose()

    async def _read(self, pubsub: PubSub, awaiting: set[bytes]) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        confirm_by = last_heard + self._confirm_timeout_s
        next_ping = last_heard + self._ping_interval_s
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval_s)
            reraise_cancellation()  # redis-py answers None to a cancellation that met its timeout
            now = loop.time()
            if message is not None:
                last_heard = now
                self._listener.received(message["type"], message)
                if awaiting and message["type"] in ("subscribe", "psubscribe"):
                    awaiting.discard(message["channel"])
                    if not awaiting:
                        self._established()
            if awaiting and now > confirm_by:
                raise TimeoutError("Redis did not confirm the subscriptions")
            if now >= next_ping:
                if now - last_heard > 3 * self._ping_interval_s:
                    raise TimeoutError(f"Redis was silent for {now - last_heard:.1f}s")
                await pubsub.ping()
                next_ping = now + self._ping_interval_s

    def _established(self) -> None:
        if self._lost:
            self.reconnects += 1
            logger.info("event bus reconnected to Redis at %s; subscribers resync", self._config.where)
            self._listener.reconnected()
        self._lost = False
        self.failures = 0
        self.connected.set()
