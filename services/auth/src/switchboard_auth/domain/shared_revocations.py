"""Revocations across replicas: every auth replica's feed carries every revocation.

Each proxy follows `WatchRevocations` on whichever auth replica its stream reached,
so a revocation made on one replica is published on the bus (`auth:revocations`) and
every replica hands what others published to its own feed. A replica's own
revocations reach its feed at once and are skipped when the bus brings them back (each
message names the replica that sent it).

The bus delivers at most once. When it says messages may have been lost (a resync),
every open subscription is cut off: its stream ends, and a follower (the principal
cache) drops everything it derived from the feed, as it does after any gap. A
revocation this replica could not publish (Redis away from it alone) is published
again in the background, with backoff, for as long as a follower may cache a principal.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import orjson
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.resilience.backoff import delay
from switchboard_core.shared.bus import Bus
from switchboard_core.shared.bus import Subscription as BusSubscription

from switchboard_auth.domain.revocations import Revocation, RevocationFeed, Subscription

logger = logging.getLogger(__name__)

CHANNEL = "auth:revocations"
# How long a revocation not yet published is tried again: the principal cache's TTL,
# past which no follower holds the token anyway.
ANNOUNCE_FOR_S = 300.0


class SharedRevocations:
    def __init__(self, feed: RevocationFeed, bus: Bus | None = None) -> None:
        """`bus` None: this process is the only one (the operator's offline CLI)."""
        self.feed = feed
        self._bus = bus
        self._origin = uuid.uuid4().hex
        self._retrying: set[asyncio.Task[None]] = set()

    def subscribe(self) -> Subscription:
        return self.feed.subscribe()

    async def announce(self, revocation: Revocation) -> None:
        """Hand a committed revocation to this replica's subscribers and every other's."""
        self.feed.publish(revocation)
        if self._bus is None:
            return
        sent = {"origin": self._origin, "token_id": revocation.token_id, "user_id": revocation.user_id}
        payload = orjson.dumps(sent)
        try:
            await self._bus.publish(CHANNEL, payload)
        except DependencyUnavailable as exc:
            # Refused by every auth replica already (the database says revoked); only
            # principals cached by followers of other replicas outlive it meanwhile.
            logger.warning(
                "revocation of token %s not yet announced to other replicas (%s); trying again",
                revocation.token_id,
                exc.message,
            )
            task = asyncio.create_task(self._announce_later(self._bus, payload, revocation.token_id))
            self._retrying.add(task)
            task.add_done_callback(self._retrying.discard)

    async def _announce_later(self, bus: Bus, payload: bytes, token_id: str) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + ANNOUNCE_FOR_S
        attempt = 0
        while loop.time() < give_up_at:
            attempt += 1
            await asyncio.sleep(delay(attempt, base=0.2, cap=5.0))
            try:
                await bus.publish(CHANNEL, payload)
            except DependencyUnavailable:
                continue
            logger.info(
                "revocation of token %s announced to other replicas after %d retries", token_id, attempt
            )
            return
        logger.error("revocation of token %s never reached other replicas' followers", token_id)

    async def close(self) -> None:
        """Stop trying to announce what has not gone out yet (shutdown)."""
        for task in self._retrying:
            task.cancel()
        await asyncio.gather(*self._retrying, return_exceptions=True)

    async def relay(self, subscription: BusSubscription) -> None:
        """Hand other replicas' revocations (from a subscription to `CHANNEL`, taken before
        this replica serves) to this replica's feed, until cancelled."""
        async with subscription:
            async for message in subscription:
                if message.resync:
                    self.feed.cut_off_all()
                    continue
                try:
                    sent = orjson.loads(message.payload)
                    origin, token_id, user_id = sent["origin"], sent["token_id"], sent["user_id"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    logger.warning("ignored a malformed revocation announcement: %r", message.payload)
                    continue
                if origin != self._origin:
                    self.feed.publish(Revocation(token_id=token_id, user_id=user_id))
