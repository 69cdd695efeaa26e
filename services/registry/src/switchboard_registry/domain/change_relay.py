"""Catalog changes made by any replica, handed to this replica's watchers.

Each replica's proxies watch the revision through whichever registry replica their
`WatchCatalog` stream reached, so every replica relays what every other published on
the bus (`changes.CHANNEL`). The bus delivers at most once: when it says messages may
have been lost (a resync), the revision is read from the database, which every
replica shares and where each change raised it, and handed on if it is newer than
what the watchers have. The same reading runs after `recheck_s` without a message,
for an announcement whose publishing failed (Redis was away from the writer only):
one indexed read of one row a second keeps even that change within the second the
design promises. An in-process bus loses nothing, so embedded there is no recheck.
Watchers take only revisions newer than their last, so a revision heard twice (from
this process and back over the bus) is passed on once.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError
from switchboard_core.errors import SwitchboardError
from switchboard_core.shared.bus import RESYNC, Message, Subscription

from switchboard_registry.domain.changes import Changes

logger = logging.getLogger(__name__)

RECHECK_S = 1.0


class ChangeRelay:
    def __init__(self, changes: Changes, *, recheck_s: float | None = RECHECK_S) -> None:
        self._changes = changes
        self._recheck_s = recheck_s

    async def run(self, subscription: Subscription) -> None:
        """Relay what `subscription` (to `changes.CHANNEL`, taken before this replica
        serves) brings, until cancelled or the bus closes."""
        async with subscription:
            while True:
                try:
                    async with asyncio.timeout(self._recheck_s):
                        message = await anext(subscription)
                except TimeoutError:
                    message = RESYNC
                except StopAsyncIteration:
                    return
                await self._relay(message)

    async def _relay(self, message: Message) -> None:
        if not message.resync:
            try:
                self._changes.feed.publish(int(message.payload))
            except ValueError:
                logger.warning("ignored a catalog announcement that is not a revision: %r", message.payload)
            return
        try:
            revision = await self._changes.current()
        except (SQLAlchemyError, OSError, SwitchboardError) as exc:
            # Watchers fetching a catalog now would fail the same way; the next recheck tries again.
            logger.warning("could not read the catalog revision to catch up: %s", exc)
            return
        self._changes.feed.publish(revision)
