"""The event bus across replicas: Redis pub/sub.

One pub/sub connection per process (`PubSubLink`) carries every subscription: Redis
keeps a buffer per connection, and a replica has dozens of subscribers. This module
keeps the subscribers and fans messages out to them; the link keeps the connection
alive and says when subscribers must resync. Publishing goes over the ordinary command
connections with a deadline, and fails fast with `DependencyUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis

from switchboard_core.shared.bus import RESYNC, Message, Subscription
from switchboard_core.shared.pubsub_link import PubSubLink, send
from switchboard_core.shared.redis_client import (
    REDIS_DOWN,
    REDIS_FAILED,
    RedisConfig,
    namespaced,
    reraise_cancellation,
    unavailable,
)


class RedisBus:
    def __init__(
        self,
        client: Redis,
        config: RedisConfig,
        *,
        ping_interval_s: float = 2.0,
        publish_timeout_s: float = 0.5,
        confirm_timeout_s: float = 2.0,
    ) -> None:
        self._client = client
        self._where = config.where
        self._publish_timeout_s = publish_timeout_s
        self._confirm_timeout_s = confirm_timeout_s
        self._prefix = namespaced("")
        self._subscribers: dict[str, set[Subscription]] = {}
        # SUBSCRIBEs sent and not yet confirmed, by full channel name.
        self._confirmations: dict[bytes, asyncio.Future[bool]] = {}
        self._link = PubSubLink(
            client, config, self, ping_interval_s=ping_interval_s, confirm_timeout_s=confirm_timeout_s
        )

    @property
    def failures(self) -> int:
        """Failed connections (or attempts) since the last good one."""
        return self._link.failures

    @property
    def reconnects(self) -> int:
        return self._link.reconnects

    async def start(self) -> None:
        """Open the pub/sub connection, waiting for it briefly: later failures are the link's to mend."""
        self._link.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._confirm_timeout_s):
                await self._link.connected.wait()
        reraise_cancellation()

    async def publish(self, channel: str, payload: bytes) -> int:
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                # Redis counts connections subscribed: one per process (the link).
                return await self._client.publish(namespaced(channel), payload)
        except REDIS_FAILED as exc:
            reraise_cancellation()
            raise unavailable(self._where, exc) from exc

    async def subscribe(self, name: str) -> Subscription:
        subscription = Subscription(name, self._unsubscribe)
        full = namespaced(name).encode()
        async with self._link.changes:
            subscribers = self._subscribers.setdefault(name, set())
            first, pubsub = not subscribers, self._link.pubsub
            subscribers.add(subscription)
            if first and pubsub is not None:
                self._confirmations[full] = asyncio.get_running_loop().create_future()
                try:
                    await send(pubsub, name, subscribe=True)
                except REDIS_DOWN:
                    reraise_cancellation()  # else the link notices, reconnects, subscribes to all
        confirmed = self._confirmations.get(full)
        if confirmed is not None:
            # Unconfirmed in time: the connection is failing; a resync follows its return.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._confirm_timeout_s):
                    await asyncio.shield(confirmed)
            reraise_cancellation()
        return subscription

    async def close(self) -> None:
        await self._link.close()
        for subscription in self._every_subscription():
            await subscription.close()

    async def _unsubscribe(self, subscription: Subscription) -> None:
        async with self._link.changes:
            subscribers = self._subscribers.get(subscription.name, set())
            subscribers.discard(subscription)
            if subscribers:
                return
            self._subscribers.pop(subscription.name, None)
            if self._link.pubsub is not None:
                with contextlib.suppress(*REDIS_DOWN):
                    await send(self._link.pubsub, subscription.name, subscribe=False)

    # --- LinkListener: called by the link's reader ---------------------------------

    def names(self) -> list[str]:
        return list(self._subscribers)

    def received(self, kind: str, message: dict) -> None:
        if kind in ("message", "pmessage"):
            source = message["pattern"] if kind == "pmessage" else message["channel"]
            delivered = Message(self._local(message["channel"]), message["data"])
            for subscription in list(self._subscribers.get(self._local(source), ())):
                subscription.deliver(delivered)
        elif kind in ("subscribe", "psubscribe"):
            confirmed = self._confirmations.pop(message["channel"], None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(True)

    def reconnected(self) -> None:
        for subscription in self._every_subscription():
            subscription.deliver(RESYNC)

    def disconnected(self) -> None:
        # Waiting subscribers return now; the resync after the reconnection covers them.
        for confirmed in self._confirmations.values():
            if not confirmed.done():
                confirmed.set_result(False)
        self._confirmations.clear()

    def _every_subscription(self) -> list[Subscription]:
        return [s for subscribers in self._subscribers.values() for s in subscribers]

    def _local(self, name: bytes) -> str:
        return name.decode().removeprefix(self._prefix)
