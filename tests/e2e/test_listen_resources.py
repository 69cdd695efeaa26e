"""Resource subscriptions across eras. A 2026-07-28 client names resources on its
`subscriptions/listen` stream: the gateway subscribes upstream for it (a 2025
upstream with `resources/subscribe`, a 2026 one on its own listen stream), relays
`notifications/resources/updated`, and unsubscribes when the last listener goes.
A session-era client's `resources/subscribe` reaches a 2026-only upstream the same way."""

from __future__ import annotations

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.upstream_process import UpstreamProcess

MODERN = "2026-07-28"
STATIC = "fixture://static"
ERAS = ["sessioned", "stateless"]


@pytest.fixture(scope="module")
def servers(
    gateway: GatewayProcess,
    admin: httpx.Client,
    fixture_upstream: UpstreamProcess,
    modern_upstream: UpstreamProcess,
) -> dict[str, str]:
    """A server per upstream era, each exposing one whole upstream under bare names."""
    urls = {}
    for era, upstream in (("sessioned", fixture_upstream), ("stateless", modern_upstream)):
        register(admin, f"watched-{era}", upstream.url)
        created = admin.post(
            "/servers",
            json={"name": f"watched-{era}", "gateways": [f"watched-{era}"], "naming": {"mode": "bare"}},
        )
        assert created.status_code == 201, created.text
        urls[era] = f"{gateway.base_url}/servers/{created.json()['id']}/mcp"
    return urls


def _client(url: str, http: httpx2.AsyncClient, mode: str = MODERN, **options) -> Client:
    return Client(streamable_http_client(url, http_client=http), mode=mode, **options)


async def _touch(client: Client) -> int:
    """Have the upstream announce an update of STATIC; how many 2025 sessions it told."""
    result = await client.call_tool("touch", {"uri": STATIC})
    return int(result.content[0].text)


async def _next_update(client: Client, subscription) -> object:
    """The next event, touching until one comes (an upstream stream that was just
    (re)opened may not hear the first touch)."""
    events = aiter(subscription)
    heard: list = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:

            async def read() -> None:
                heard.append(await anext(events))
                tasks.cancel_scope.cancel()

            tasks.start_soon(read)
            while True:
                await _touch(client)
                await anyio.sleep(0.2)
    return heard[0]


async def test_discover_offers_resource_subscriptions(servers: dict[str, str], admin_token: str) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(servers["sessioned"], http, mode="auto") as client:  # auto asks server/discover
            assert client.protocol_version == MODERN
            assert client.server_capabilities.resources.subscribe is True


@pytest.mark.parametrize("era", ERAS)
async def test_a_listen_stream_hears_updates_of_the_resources_it_names(
    servers: dict[str, str], admin_token: str, era: str
) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(servers[era], http) as client:
            async with client.listen(resource_subscriptions=[STATIC, "fixture://nowhere"]) as subscription:
                assert subscription.honored.resource_subscriptions == [STATIC]
                event = await _next_update(client, subscription)
            assert type(event).__name__ == "ResourceUpdated"
            assert str(event.uri) == STATIC


async def test_the_upstream_subscription_ends_with_the_last_listener(
    servers: dict[str, str], admin_token: str
) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(servers["sessioned"], http) as client:
            async with client.listen(resource_subscriptions=[STATIC]) as first:
                async with client.listen(resource_subscriptions=[STATIC]):
                    assert await _touch(client) == 1  # one upstream subscription for both
                assert await _touch(client) == 1, "one listener left: still subscribed"
                assert type(await _next_update(client, first)).__name__ == "ResourceUpdated"
            with anyio.fail_after(10):
                while await _touch(client) != 0:  # noqa: ASYNC110 - the upstream offers nothing to wait on
                    await anyio.sleep(0.05)


async def test_a_session_client_hears_a_stateless_upstreams_resource_updates(
    servers: dict[str, str], admin_token: str
) -> None:
    updates: list[str] = []
    heard = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            heard.set()

    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(servers["stateless"], http, mode="legacy", message_handler=on_message) as client:
            with pytest.warns(MCPDeprecationWarning):
                await client.subscribe_resource(STATIC)
            with anyio.fail_after(10):
                while not heard.is_set():
                    await _touch(client)
                    with anyio.move_on_after(0.2):
                        await heard.wait()
    assert updates[0] == STATIC
