"""Two auth replicas sharing a database and Redis: a revocation made on either reaches
the revocation feeds of both, once each; when the bus may have lost some, the feed's
subscribers are cut off so that they drop what they cached."""

from __future__ import annotations

import asyncio

import orjson
from switchboard_auth import AuthService
from switchboard_auth.domain.revocations import Revocation, RevocationFeed
from switchboard_auth.domain.shared_revocations import CHANNEL, SharedRevocations
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.principals import Principal
from switchboard_core.shared.bus import RESYNC, InProcessBus


async def _admin_login(service: AuthService) -> Principal:
    """A fresh login of the bootstrap administrator, as its principal."""
    settings = service.settings
    issued = await service.accounts.login(settings.bootstrap_admin_email, settings.bootstrap_admin_password)
    return await service.accounts.authenticate(issued.access_token)


async def test_a_revocation_on_one_replica_reaches_the_feeds_of_both_within_a_second_once_each(
    replicas: list[AuthService],
) -> None:
    revoking, other = replicas
    admin = await _admin_login(revoking)
    first, second = (await _admin_login(revoking)).token_id, (await _admin_login(other)).token_id
    here, there = revoking.accounts.watch_revocations(), other.accounts.watch_revocations()
    try:
        await revoking.accounts.revoke(admin, first)
        await other.accounts.revoke(admin, second)

        async with asyncio.timeout(1.0):
            # In order, and the replica's own revocation is not repeated when the bus brings it back.
            assert [(await anext(aiter(here))).token_id for _ in range(2)] == [first, second]
            assert [(await anext(aiter(there))).token_id for _ in range(2)] == [first, second]
    finally:
        here.close()
        there.close()


async def test_a_resync_cuts_off_every_subscriber_and_later_ones_are_served() -> None:
    bus = InProcessBus()
    feed = RevocationFeed()
    shared = SharedRevocations(feed, bus)
    subscription = await bus.subscribe(CHANNEL)
    relay = asyncio.create_task(shared.relay(subscription))
    cut_off = shared.subscribe()
    try:
        subscription.deliver(RESYNC)  # what the bus tells every subscriber once it is back

        async with asyncio.timeout(1.0):
            assert [r async for r in cut_off] == []
        later = shared.subscribe()
        await shared.announce(Revocation(token_id="t", user_id="u"))
        async with asyncio.timeout(1.0):
            assert (await anext(aiter(later))).token_id == "t"
        later.close()
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)


class FailingAtFirst(InProcessBus):
    """An in-process bus whose first `failures` publishes fail, as with a Redis gone away."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, channel: str, payload: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise DependencyUnavailable("Redis at redis://test is unavailable")
        await super().publish(channel, payload)


async def test_a_revocation_that_could_not_be_published_is_published_again_until_it_goes_out() -> None:
    bus = FailingAtFirst(failures=2)
    shared = SharedRevocations(RevocationFeed(), bus)
    elsewhere = await bus.subscribe(CHANNEL)  # another replica's relay
    try:
        await shared.announce(Revocation(token_id="t", user_id="u"))

        async with asyncio.timeout(5):
            message = await anext(elsewhere)
        assert orjson.loads(message.payload)["token_id"] == "t"
        assert bus.failures == 0
    finally:
        await shared.close()
        await elsewhere.close()
