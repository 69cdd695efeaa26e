"""The in-process change feed: writers never wait, slow readers skip to the latest revision."""

from __future__ import annotations

import asyncio

from switchboard_registry.domain.changes import ChangeFeed


async def _next(revisions) -> int:
    async with asyncio.timeout(5):
        return await anext(revisions)


async def test_a_subscriber_that_does_not_read_never_holds_up_the_publisher():
    feed = ChangeFeed()
    with feed.subscribe() as subscription:
        for revision in range(1, 10_001):
            feed.publish(revision)  # returns at once: nothing queues

        revisions = subscription.after(0)
        assert await _next(revisions) == 10_000


async def test_a_subscriber_sees_only_revisions_newer_than_where_it_started():
    feed = ChangeFeed()
    with feed.subscribe() as subscription:
        feed.publish(3)
        feed.publish(2)  # out of order: never a step back
        revisions = subscription.after(3)
        feed.publish(4)

        assert await _next(revisions) == 4


async def test_every_subscriber_gets_each_revision():
    feed = ChangeFeed()
    with feed.subscribe() as one, feed.subscribe() as two:
        feed.publish(7)

        assert [await _next(one.after(0)), await _next(two.after(0))] == [7, 7]


async def test_leaving_unsubscribes():
    feed = ChangeFeed()
    with feed.subscribe():
        assert feed.subscribers == 1
    assert feed.subscribers == 0


async def test_closing_the_feed_ends_every_subscription_now_and_later():
    feed = ChangeFeed()
    with feed.subscribe() as subscription:
        revisions = subscription.after(0)
        waiting = asyncio.ensure_future(anext(revisions, None))

        feed.close()

        async with asyncio.timeout(5):
            assert await waiting is None
    with feed.subscribe() as late:
        async with asyncio.timeout(5):
            assert [r async for r in late.after(0)] == []
