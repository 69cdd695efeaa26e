"""Resource updates from pooled upstream sessions reach exactly the sessions that
subscribed, and one client's unsubscribe does not end another's subscription."""

from __future__ import annotations

import asyncio

from switchboard_proxy.sessions import SessionStore
from switchboard_proxy.upstream_events import UpstreamEvents

UPDATED = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "test://a"}}


def _store() -> tuple[SessionStore, UpstreamEvents]:
    store = SessionStore(idle_ttl_s=60)
    return store, UpstreamEvents(store)


async def _session(store: SessionStore, capabilities: dict | None = None):
    return await store.create(
        user_id="u",
        server_id="",
        protocol_version="2025-11-25",
        client_info={},
        client_capabilities=capabilities,
    )


async def test_an_update_reaches_only_subscribers_of_that_uri() -> None:
    store, events = _store()
    subscribed, other = await _session(store), await _session(store)
    subscribed.subscriptions.add("test://a")
    other.subscriptions.add("test://b")
    events.route(UPDATED)
    assert subscribed.outbox.get_nowait() == UPDATED
    assert other.outbox.empty()


async def test_another_subscriber_keeps_the_pooled_subscription_alive() -> None:
    store, events = _store()
    first, second = await _session(store), await _session(store)
    first.subscriptions.add("test://a")
    second.subscriptions.add("test://a")
    assert events.wanted_by_another("test://a", first)
    second.subscriptions.discard("test://a")
    assert not events.wanted_by_another("test://a", first)


async def test_sessions_with_upstream_sessions_of_their_own_are_not_served_from_the_pool() -> None:
    store, events = _store()
    own = await _session(store, {"sampling": {}})
    own.subscriptions.add("test://a")
    pooled = await _session(store)
    pooled.subscriptions.add("test://a")
    assert not events.wanted_by_another("test://a", pooled)
    events.route(UPDATED)
    assert own.outbox.empty(), "its own upstream session delivers its updates"
    assert pooled.outbox.get_nowait() == UPDATED


class _Upstream:
    """An upstream session as the watcher uses it: an event stream, and requests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.asked: list[tuple[str, dict]] = []
        self.events: asyncio.Queue[dict | None] = asyncio.Queue()

    async def listen(self):
        while (message := await self.events.get()) is not None:
            yield message

    async def request(self, method: str, params: dict) -> dict:
        self.asked.append((method, params))
        return {}


async def test_after_the_pool_replaces_a_session_the_watcher_follows_the_new_one_subscribed_again() -> None:
    store, events = _store()
    subscriber = await _session(store)
    subscriber.subscriptions.add("test://a")
    old, new = _Upstream("http://up/mcp"), _Upstream("http://up/mcp")
    pool = {"http://up/mcp": old}
    events.watch(old, "test://a", pool.get)
    events.watch(old, "test://gone", pool.get)  # nobody wants it by the time of the switch
    try:
        await old.events.put(UPDATED)
        async with asyncio.timeout(5):
            assert await subscriber.outbox.get() == UPDATED

        pool["http://up/mcp"] = new  # the credentials changed: the pool opened another session
        await old.events.put(None)  # and ended the old one, whose stream ends
        async with asyncio.timeout(5):
            while not new.asked:  # noqa: ASYNC110 - the fake offers no event to wait on
                await asyncio.sleep(0.02)
        assert new.asked == [("resources/subscribe", {"uri": "test://a"})]
        assert old.asked == []
        await new.events.put(UPDATED)
        async with asyncio.timeout(5):
            assert await subscriber.outbox.get() == UPDATED
    finally:
        await events.close()
