"""Two replicas of every service: what changes on one replica is known to all within a
second, periodic work runs on one replica only, and a `tools/call` in the steady state
leaves the proxy for nothing but the upstream (its counters show it).

Each proxy follows the registry's and auth's feeds through whichever replica nginx gave
its stream. Changes are made through each replica in turn, so that for every proxy at
least one of them is made on a replica other than the one it follows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import orjson
import pytest
from switchboard_testing.mcp_http import session_headers
from switchboard_testing.mcp_listen import Session, listening_sessions
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

WITHIN_S = 1.0
LIST_CHANGED = "notifications/tools/list_changed"


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"replicas": 2, "proxy_replicas": 2}


@pytest.fixture(scope="module")
def token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="shared") as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _tools_listed(http: httpx.AsyncClient, proxy: str, token: str) -> set[str]:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = await http.post(f"{proxy}/rpc", content=orjson.dumps(message), headers=session_headers(token))
    assert response.status_code == 200, response.text
    return {tool["name"] for tool in response.json()["result"]["tools"]}


async def _until(check, *, by: float, what: str) -> None:
    while not await check():
        assert time.monotonic() < by, f"{what} not within {WITHIN_S}s"
        await asyncio.sleep(0.02)


async def test_a_gateway_added_or_removed_on_either_registry_replica_shows_on_every_proxy_within_a_second(
    stack: StackProcess, token: str, upstream: UpstreamProcess, http: httpx.AsyncClient
) -> None:
    adding, removing = stack.replica_urls("registry")
    proxies = stack.replica_urls("mcp-proxy")
    async with listening_sessions(http, proxies, token) as sessions:
        response = await http.post(
            f"{adding}/gateways", json={"name": "shared", "url": upstream.url}, headers=_bearer(token)
        )
        assert response.status_code == 201, response.text
        by = time.monotonic() + WITHIN_S
        for session in sessions:
            await session.told(LIST_CHANGED, by=by)
        for proxy in proxies:
            await _until(
                lambda p=proxy: _has_echo(http, p, token), by=by, what=f"the new tools listed by {proxy}"
            )

        for session in sessions:
            session.forget_notifications()
        gateway_id = response.json()["id"]
        deleted = await http.delete(f"{removing}/gateways/{gateway_id}", headers=_bearer(token))
        assert deleted.status_code == 204, deleted.text
        by = time.monotonic() + WITHIN_S
        for session in sessions:
            await session.told(LIST_CHANGED, by=by)
        for proxy in proxies:
            await _until(
                lambda p=proxy: _lacks_echo(http, p, token), by=by, what=f"the tools dropped by {proxy}"
            )


async def _has_echo(http: httpx.AsyncClient, proxy: str, token: str) -> bool:
    return "shared__echo" in await _tools_listed(http, proxy, token)


async def _lacks_echo(http: httpx.AsyncClient, proxy: str, token: str) -> bool:
    return not await _has_echo(http, proxy, token)


async def test_a_token_revoked_on_either_auth_replica_is_refused_by_every_proxy_within_a_second(
    stack: StackProcess, token: str, http: httpx.AsyncClient
) -> None:
    proxies = stack.replica_urls("mcp-proxy")
    for auth in stack.replica_urls("auth"):
        doomed = stack.login()
        for proxy in proxies:  # each proxy has it cached now
            assert await _status_of_a_call(http, proxy, doomed) == 200
        token_id = jwt.decode(doomed, options={"verify_signature": False})["jti"]

        revoked = await http.delete(f"{auth}/auth/tokens/{token_id}", headers=_bearer(token))
        assert revoked.status_code == 204, revoked.text
        by = time.monotonic() + WITHIN_S
        for proxy in proxies:
            await _until(
                lambda p=proxy, t=doomed: _refused(http, p, t),
                by=by,
                what=f"{proxy} refusing a token revoked on {auth}",
            )


async def _status_of_a_call(http: httpx.AsyncClient, proxy: str, token: str) -> int:
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    response = await http.post(f"{proxy}/rpc", content=orjson.dumps(message), headers=session_headers(token))
    return response.status_code


async def _refused(http: httpx.AsyncClient, proxy: str, token: str) -> bool:
    return await _status_of_a_call(http, proxy, token) == 401


async def _counters(http: httpx.AsyncClient, replica: str) -> dict[str, int]:
    response = await http.get(f"{replica}/internal/counters")
    assert response.status_code == 200, response.text
    return response.json()["counters"]


async def test_health_checks_upstream_followers_retention_and_rollups_run_on_one_replica_only(
    stack: StackProcess, token: str, upstream: UpstreamProcess, http: httpx.AsyncClient
) -> None:
    registries = stack.replica_urls("registry")
    response = await http.post(
        f"{registries[1]}/gateways", json={"name": "followed", "url": upstream.url}, headers=_bearer(token)
    )
    assert response.status_code == 201, response.text
    try:
        deadline = time.monotonic() + 10
        while True:
            counts = [await _counters(http, replica) for replica in registries]
            if any(c.get("registry.followers_started", 0) for c in counts):
                break
            assert time.monotonic() < deadline, f"no replica follows the new gateway: {counts}"
            await asyncio.sleep(0.05)
        checking = [c.get("registry.health_rounds", 0) > 0 for c in counts]
        following = [c.get("registry.followers_started", 0) > 0 for c in counts]
        assert sorted(checking) == [False, True], counts
        assert following == checking, counts
    finally:
        await http.delete(f"{registries[0]}/gateways/{response.json()['id']}", headers=_bearer(token))
    metrics = [await _counters(http, replica) for replica in stack.replica_urls("metrics")]
    pruning = [c.get("metrics.retention_passes", 0) > 0 for c in metrics]
    rolling_up = [c.get("metrics.rollup_passes", 0) > 0 for c in metrics]
    assert sorted(pruning) == sorted(rolling_up) == [False, True], metrics


HOT_CALLS = 100
CALL_SERVICES = ("/switchboard.auth.v1.", "/switchboard.registry.v1.")
INGEST = "grpc.calls./switchboard.metrics.v1.MetricsService/Ingest"


async def test_a_tools_call_in_the_steady_state_makes_no_sql_query_grpc_call_or_redis_round_trip(
    stack: StackProcess, token: str, upstream: UpstreamProcess, http: httpx.AsyncClient
) -> None:
    """What the calls cost would show in every window, a hundred times over; background
    work on a schedule of its own may fall inside one (the metrics flush each second, the
    session records' refresh each minute), so two windows are measured, back to back."""
    registered = await http.post(
        f"{stack.url}/gateways", json={"name": "hot", "url": upstream.url}, headers=_bearer(token)
    )
    assert registered.status_code == 201, registered.text
    proxy = stack.replica_urls("mcp-proxy")[0]
    session = Session(http, proxy, token)
    await session.open()
    for id_ in range(3):  # warm: the catalog and the principal are cached now
        await session.echo("hot__echo", id_, "warm")

    windows = []
    for window in range(2):
        before, started = await _counters(http, proxy), time.monotonic()
        for id_ in range(HOT_CALLS):
            reply = await session.echo("hot__echo", 1000 * (window + 1) + id_, f"hot {id_}")
            assert reply["result"]["content"][0]["text"] == f"hot {id_}"
        after, elapsed = await _counters(http, proxy), time.monotonic() - started
        windows.append(({k: after[k] - before.get(k, 0) for k in after}, elapsed))

    for spent, elapsed in windows:
        assert spent.get("sql.queries", 0) == 0, spent
        assert not [
            k
            for k, v in spent.items()
            if v and k.startswith("grpc.calls.") and k[11:].startswith(CALL_SERVICES)
        ], spent
        # Only metric batches left over gRPC: at most one per flush window (1 s) begun.
        assert spent.get("grpc.calls", 0) == spent.get(INGEST, 0) <= elapsed + 2, spent
        assert spent.get("cache.principals.hits", 0) == HOT_CALLS, spent
        assert spent.get("cache.catalog.hits", 0) >= HOT_CALLS, spent
        assert spent.get("cache.principals.misses", 0) == spent.get("cache.catalog.misses", 0) == 0, spent
        assert spent.get("redis.commands", 0) <= 1, spent
    assert min(spent.get("redis.commands", 0) for spent, _ in windows) == 0, windows
