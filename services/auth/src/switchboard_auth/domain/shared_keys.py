"""Keeping every auth replica's key ring current: a replica that rotates or retires a
key says so on the bus (`auth:keys`) and every replica reads the keys again; each also
reads them every refresh period, and retires what is due, in case a message was lost
(the bus delivers at most once) or Redis was away. Which key signs follows from the rows
and the clock (see `signing_keys`), so a rotation with a publish delay longer than the
refresh period switches every replica at the same moment.

When a key is retired, each replica cuts off its revocation feed's subscribers: the
principal caches following it drop what they hold, tokens of the retired key included.
"""

from __future__ import annotations

import asyncio
import logging

from switchboard_core.errors import DependencyUnavailable
from switchboard_core.shared.bus import Bus
from switchboard_core.shared.bus import Subscription as BusSubscription

from switchboard_auth.domain.revocations import RevocationFeed
from switchboard_auth.domain.signing_keys import KeyRing

logger = logging.getLogger(__name__)

CHANNEL = "auth:keys"


class SharedKeys:
    def __init__(self, ring: KeyRing, bus: Bus, feed: RevocationFeed) -> None:
        self._ring = ring
        self._bus = bus
        ring.on_change = self.announce
        ring.on_dropped = lambda kids: feed.cut_off_all()

    async def announce(self) -> None:
        try:
            await self._bus.publish(CHANNEL, b"changed")
        except DependencyUnavailable as exc:
            logger.warning("key change not announced (%s); other replicas see it on their next refresh", exc)

    async def follow(self, subscription: BusSubscription) -> None:
        """Reload on every announcement (and after a possible loss), until cancelled."""
        async with subscription:
            async for _message in subscription:
                await self._reload_logging_failures()

    async def refresh(self) -> None:
        """Reload and retire what is due every refresh period, until cancelled."""
        while True:
            await asyncio.sleep(self._ring.refresh.total_seconds())
            await self._reload_logging_failures()
            try:
                await self._ring.retire_due()
            except Exception:
                logger.exception("retiring signing keys failed; trying again next period")

    async def _reload_logging_failures(self) -> None:
        try:
            await self._ring.reload()
        except Exception:
            # Top level of a background task: the keys held stay in use meanwhile.
            logger.exception("reading the signing keys failed; keeping those loaded")
