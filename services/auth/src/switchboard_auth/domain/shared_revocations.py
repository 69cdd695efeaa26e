"""Revocations across replicas: every auth replica's feed carries every revocation.

Each proxy follows `WatchRevocations` on whichever auth replica its stream reached,
so a revocation made on one replica is published on the bus (`auth:revocations`) and
every replica hands what others published to its own feed. A replica's own
revocations reach its feed at once and are skipped when the bus brings them back (each
message names the replica that sent it).

The bus delivers at most once. When it says messages may have been lost (a resync),
every open subscription is cut off: its stream ends, and a follower (the principal
cache) drops everything it derived from the feed, as it does after any gap.
"""

from __future__ import annotations

import logging
import uuid

import orjson
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.shared.bus import Bus
from switchboard_core.shared.bus import Subscription as BusSubscription

from switchboard_auth.domain.revocations import Revocation, RevocationFeed, Subscription

logger = logging.getLogger(__name__)

CHANNEL = "auth:revocations"


class SharedRevocations:
    def __init__(self, feed: RevocationFeed, bus: Bus | None = None) -> None:
        """`bus` None: this process is the only one (the operator's offline CLI)."""
        self.feed = feed
        self._bus = bus
        self._origin = uuid.uuid4().hex

    def subscribe(self) -> Subscription:
        return self.feed.subscribe()

    async def announce(self, revocation: Revocation) -> None:
        """Hand a committed revocation to this replica's subscribers and every other's."""
        self.feed.publish(revocation)
        if self._bus is None:
            return
        payload = {"origin": self._origin, "token_id": revocation.token_id, "user_id": revocation.user_id}
        try:
            await self._bus.publish(CHANNEL, orjson.dumps(payload))
        except DependencyUnavailable as exc:
            # Refused by every auth replica from now on (the database says revoked);
            # only principals cached by followers of other replicas outlive it, to their TTL.
            logger.error(
                "revocation of token %s was not announced to other replicas: %s",
                revocation.token_id,
                exc.message,
            )

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
