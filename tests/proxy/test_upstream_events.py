"""Resource updates from pooled upstream sessions reach exactly the sessions that
subscribed, and one client's unsubscribe does not end another's subscription."""

from __future__ import annotations

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
