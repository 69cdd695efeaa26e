"""Revocations reach every WatchRevocations subscriber, and the principal cache of the
HTTP face drops a revoked token without waiting for its TTL."""

from __future__ import annotations

import asyncio

import jwt
from switchboard.auth.v1 import auth_pb2
from switchboard_auth.domain.revocations import Revocation, RevocationFeed
from switchboard_core.errors import Unauthenticated


def token_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


async def test_a_revocation_reaches_every_watch_revocations_subscriber(auth):
    admin = await auth.login()
    doomed = await auth.login()
    watchers = [auth.stub.WatchRevocations(auth_pb2.WatchRevocationsRequest()) for _ in range(2)]
    # Initial metadata means the subscription exists: nothing revoked after it is missed.
    for watcher in watchers:
        await asyncio.wait_for(watcher.initial_metadata(), 5)

    response = await auth.http.delete(
        f"/auth/tokens/{token_id(doomed)}", headers={"authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 204

    for watcher in watchers:
        revocation = await asyncio.wait_for(watcher.read(), 5)
        assert revocation.token_id == token_id(doomed)
        assert revocation.user_id == (await auth.authenticate(admin)).user_id
        watcher.cancel()


async def test_a_revoked_token_is_refused_over_http_within_a_second(auth):
    admin = await auth.login()
    doomed = await auth.login()
    assert (await auth.http.get("/auth/me", headers={"authorization": f"Bearer {doomed}"})).status_code == 200

    response = await auth.http.delete(
        f"/auth/tokens/{token_id(doomed)}", headers={"authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 204

    async with asyncio.timeout(1):
        while True:
            response = await auth.http.get("/auth/me", headers={"authorization": f"Bearer {doomed}"})
            if response.status_code == 401:
                break
            await asyncio.sleep(0.01)
    assert response.json()["detail"] == "token has been revoked"


async def test_draining_the_service_ends_open_watch_streams(auth):
    watcher = auth.stub.WatchRevocations(auth_pb2.WatchRevocationsRequest())
    await asyncio.wait_for(watcher.initial_metadata(), 5)
    await auth.service.drain()
    assert [r async for r in watcher] == []


async def test_a_subscriber_that_falls_behind_is_cut_off_rather_than_missing_revocations():
    feed = RevocationFeed(capacity=2)
    slow, keeping_up = feed.subscribe(), feed.subscribe()
    seen = []
    for n in range(3):
        feed.publish(Revocation(token_id=f"t{n}", user_id="u"))
        seen.append(await anext(aiter(keeping_up)))

    assert [r.token_id for r in seen] == ["t0", "t1", "t2"]
    # The slow one gets what it had buffered, then its iteration ends: it must start clean.
    assert [r.token_id async for r in slow] == ["t0", "t1"]
    assert feed.subscriber_count == 1


async def test_a_closed_feed_ends_present_and_future_subscriptions():
    feed = RevocationFeed()
    present = feed.subscribe()
    feed.close()
    future = feed.subscribe()
    feed.publish(Revocation(token_id="t", user_id="u"))
    assert [r async for r in present] == []
    assert [r async for r in future] == []


async def test_a_token_cached_while_the_feed_was_down_and_revoked_meanwhile_is_refused_once_it_is_back(auth):
    admin = await auth.login()
    doomed = await auth.login()
    caller = await auth.principals.authenticate(admin)
    feed = auth.service._revocations
    assert feed.subscriber_count == 1  # the principal cache's stream

    feed.cut_off_all()  # as after a bus resync: the follower reconnects after a pause
    await auth.principals.authenticate(doomed)  # cached while nobody follows
    await auth.service.accounts.revoke(caller, token_id(doomed))  # reaches no follower

    async with asyncio.timeout(5):
        while feed.subscriber_count == 0:  # noqa: ASYNC110 - the feed has no event to wait on
            await asyncio.sleep(0.01)
    async with asyncio.timeout(1):
        while True:
            try:
                await auth.principals.authenticate(doomed)
            except Unauthenticated:
                break
            await asyncio.sleep(0.01)
