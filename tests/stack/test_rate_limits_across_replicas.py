"""A per-user rate limit holds across two proxy replicas sharing Redis: what one replica
admitted is spent on the other within one sync interval, though neither asks Redis per
request."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from switchboard_testing.stack import StackProcess

LIMIT = 300
# The other replica may admit what it is sent in one sync interval (100 ms) before it
# hears of the first's count: far less than this many sequential requests.
LAG_BOUND = LIMIT // 3
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"replicas": 1, "proxy_replicas": 2, "env": {"SWITCHBOARD_RATE_LIMIT_PER_USER": f"{LIMIT}/24h"}}


async def _status(http: httpx.AsyncClient, proxy: str, token: str) -> httpx.Response:
    return await http.post(f"{proxy}/rpc", json=TOOLS_LIST, headers={"authorization": f"Bearer {token}"})


async def _admitted_until_refused(
    http: httpx.AsyncClient, proxy: str, token: str
) -> tuple[int, httpx.Response]:
    admitted = 0
    while True:
        response = await _status(http, proxy, token)
        if response.status_code != 200:
            return admitted, response
        admitted += 1
        assert admitted <= LIMIT, "no limit at all"


async def test_a_user_spent_on_one_proxy_replica_is_refused_by_the_other_within_one_sync(
    stack: StackProcess,
) -> None:
    token = stack.login()
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    first, second = stack.replica_urls("mcp-proxy")
    redis = Redis.from_url(stack.env["SWITCHBOARD_REDIS_URL"])
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            admitted, refused = await _admitted_until_refused(http, first, token)
            assert admitted == LIMIT
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0

            deadline = time.monotonic() + 5
            while await _shared_count(redis, user_id) < LIMIT:
                assert time.monotonic() < deadline, "the first replica's count never reached Redis"
                await asyncio.sleep(0.02)

            elsewhere, refused = await _admitted_until_refused(http, second, token)
            assert elsewhere < LAG_BOUND, elsewhere
            assert refused.status_code == 429, refused.text
    finally:
        await redis.aclose()


async def _shared_count(redis: Redis, user_id: str) -> int:
    keys = [key async for key in redis.scan_iter(match=f"switchboard:limits:u86400:{user_id}:*")]
    return sum([int(await redis.get(key) or 0) for key in keys])
