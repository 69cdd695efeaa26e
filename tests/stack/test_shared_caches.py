"""The proxies' two-level caches: in-process in front of Redis. A principal or catalog
one proxy replica fetched from its owner over gRPC is a Redis hit for the other, a
revocation clears it from Redis too, and with Redis frozen every miss is still answered
by the owner within its deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import orjson
import pytest
import redis
from switchboard_testing.mcp_http import session_headers
from switchboard_testing.mcp_listen import listening_sessions
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

AUTHENTICATE = "grpc.calls./switchboard.auth.v1.AuthService/Authenticate"
GET_CATALOG = "grpc.calls./switchboard.registry.v1.RegistryService/GetCatalog"
LIST_CHANGED = "notifications/tools/list_changed"
DEADLINE_S = 2.0


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2}


@pytest.fixture(scope="module")
def admin_token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="cached") as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def shared_redis(stack: StackProcess) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.env["SWITCHBOARD_REDIS_URL"])
    yield client
    client.close()


async def _counters(http: httpx.AsyncClient, replica: str) -> dict[str, int]:
    response = await http.get(f"{replica}/internal/counters")
    response.raise_for_status()
    return response.json()["counters"]


async def _spent(http: httpx.AsyncClient, replica: str, before: dict[str, int]) -> dict[str, int]:
    after = await _counters(http, replica)
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def _rpc(http: httpx.AsyncClient, url: str, token: str, method: str = "ping") -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": method}
    return await http.post(url, content=orjson.dumps(message), headers=session_headers(token))


async def _add_server(http: httpx.AsyncClient, stack: StackProcess, token: str, name: str) -> str:
    response = await http.post(
        f"{stack.url}/servers",
        json={"name": name, "tools": ["cached__echo"], "bare_names": True},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def registered(stack: StackProcess, admin_token: str, upstream: UpstreamProcess) -> None:
    response = httpx.post(
        f"{stack.url}/gateways",
        json={"name": "cached", "url": upstream.url},
        headers={"authorization": f"Bearer {admin_token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


async def test_a_token_one_proxy_verified_is_a_redis_hit_for_the_other(
    stack: StackProcess, http: httpx.AsyncClient
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    fresh = stack.login()  # no replica has seen it
    before = [await _counters(http, first), await _counters(http, second)]

    assert (await _rpc(http, f"{first}/rpc", fresh)).status_code == 200
    assert (await _rpc(http, f"{second}/rpc", fresh)).status_code == 200

    spent_first, spent_second = await _spent(http, first, before[0]), await _spent(http, second, before[1])
    assert spent_first.get(AUTHENTICATE) == 1, spent_first
    assert spent_second.get(AUTHENTICATE, 0) == 0, spent_second
    assert spent_second.get("cache.principals.shared_hits") == 1, spent_second


async def test_a_catalog_one_proxy_fetched_is_a_redis_hit_for_the_other_at_the_same_revision(
    stack: StackProcess, admin_token: str, registered: None, http: httpx.AsyncClient
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    async with listening_sessions(http, [first, second], admin_token) as sessions:
        server_id = await _add_server(http, stack, admin_token, "shared-catalog")
        # Both proxies have heard of the new revision once they told their sessions.
        for session in sessions:
            await session.told(LIST_CHANGED, by=time.monotonic() + 5)
        before = [await _counters(http, first), await _counters(http, second)]
        for proxy in (first, second):
            listed = await _rpc(http, f"{proxy}/servers/{server_id}/rpc", admin_token, "tools/list")
            assert [t["name"] for t in listed.json()["result"]["tools"]] == ["echo"], listed.text

    spent_first, spent_second = await _spent(http, first, before[0]), await _spent(http, second, before[1])
    assert spent_first.get(GET_CATALOG) == 1, spent_first
    assert spent_second.get(GET_CATALOG, 0) == 0, spent_second
    assert spent_second.get("cache.catalog.shared_hits") == 1, spent_second


async def test_a_revoked_token_leaves_redis_and_every_proxy_within_a_second(
    stack: StackProcess, admin_token: str, http: httpx.AsyncClient, shared_redis: redis.Redis
) -> None:
    doomed = stack.login()
    claims = jwt.decode(doomed, options={"verify_signature": False})
    pattern = f"switchboard:mcp-proxy:principals:u:{claims['sub']}:t:{claims['jti']}:*"
    for proxy in stack.replica_urls("mcp-proxy"):
        assert (await _rpc(http, f"{proxy}/rpc", doomed)).status_code == 200
    assert len(list(shared_redis.scan_iter(match=pattern))) == 1, "the principal is shared"

    revoked = await http.delete(
        f"{stack.url}/auth/tokens/{claims['jti']}", headers={"authorization": f"Bearer {admin_token}"}
    )
    assert revoked.status_code == 204, revoked.text
    by = time.monotonic() + 1.0
    while list(shared_redis.scan_iter(match=pattern)):
        assert time.monotonic() < by, "the revoked principal is still in Redis"
        await asyncio.sleep(0.02)
    for proxy in stack.replica_urls("mcp-proxy"):
        while (await _rpc(http, f"{proxy}/rpc", doomed)).status_code != 401:
            assert time.monotonic() < by, f"{proxy} still accepts the revoked token"
            await asyncio.sleep(0.02)


async def test_with_redis_frozen_misses_are_answered_by_the_owners_within_the_deadline(
    stack: StackProcess, admin_token: str, registered: None, http: httpx.AsyncClient
) -> None:
    proxy = stack.replica_urls("mcp-proxy")[1]
    server_id = await _add_server(http, stack, admin_token, "during-the-outage")
    fresh = stack.login()
    redis_process = next(p for p in stack.state["processes"] if p["group"] == "redis")
    before = await _counters(http, proxy)
    os.kill(redis_process["pid"], signal.SIGSTOP)
    try:
        started = time.monotonic()
        listed = await _rpc(http, f"{proxy}/servers/{server_id}/rpc", fresh, "tools/list")
        elapsed = time.monotonic() - started
    finally:
        os.kill(redis_process["pid"], signal.SIGCONT)
    assert listed.status_code == 200, listed.text
    assert [t["name"] for t in listed.json()["result"]["tools"]] == ["echo"]
    assert elapsed < DEADLINE_S, f"a miss took {elapsed:.2f}s with Redis frozen"
    spent = await _spent(http, proxy, before)
    assert spent.get(AUTHENTICATE) == 1 and spent.get(GET_CATALOG, 0) >= 1, spent
