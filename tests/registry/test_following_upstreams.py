"""Following upstreams: a gateway whose upstream announces a list change is refreshed on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.principals import Principal
from switchboard_registry import RegistryService
from switchboard_registry.domain.registry import Registry

BY = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")
DEADLINE_S = 10.0


async def _eventually(check: Callable[[], Awaitable[object]], *, what: str) -> None:
    """Wait until `check()` answers something truthy, failing at the deadline."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"{what} not within {DEADLINE_S}s")


@pytest.fixture
async def revisions(registry: Registry) -> AsyncIterator[AsyncIterator[int]]:
    """The catalog's revisions, the current one first."""
    watch = registry.changes.watch()
    try:
        yield watch
    finally:
        await watch.aclose()


async def _next(revisions: AsyncIterator[int]) -> int:
    async with asyncio.timeout(DEADLINE_S):
        return await anext(revisions)


@pytest.fixture
async def followed(registry: Registry, growing_upstream) -> str:
    """The gateway `grower` (on an upstream free to grow), once its follower listens and has
    caught up (listed the upstream once more); its id."""
    registered = await registry.gateways.register("grower", growing_upstream.url, by=BY)
    await _eventually(growing_upstream.listening, what="the follower's event stream")
    await _eventually(lambda: _listed(growing_upstream, times=2), what="the follower's first refresh")
    return registered.gateway.id


async def _listed(upstream, *, times: int) -> bool:
    return await upstream.asked("tools/list") >= times


async def test_an_announced_change_is_in_the_catalog_without_anyone_asking_for_a_refresh(
    registry: Registry, followed: str, growing_upstream, revisions, registry_stub
):
    before = await _next(revisions)

    await growing_upstream.grow("sprout", announce=1)
    after = await _next(revisions)

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest())
    assert after > before
    assert catalog.revision == after
    assert "grower__sprout" in [t.name for t in catalog.tools]


async def test_announced_prompt_and_resource_changes_refresh_too(
    registry: Registry, followed: str, growing_upstream, revisions
):
    await _next(revisions)

    await growing_upstream.grow("farewell", "prompt", announce=1)
    await _next(revisions)
    await growing_upstream.grow("memo://growing/news", "resource", announce=1)
    await _next(revisions)

    catalog = await registry.catalog.catalog()
    assert "grower__farewell" in [p.name for p in catalog.prompts]
    assert "memo://growing/news" in [r.uri for r in catalog.resources]


async def test_a_burst_of_announcements_makes_one_refresh(
    registry: Registry, followed: str, growing_upstream, revisions
):
    await _next(revisions)
    listed_before = await growing_upstream.asked("tools/list")

    await growing_upstream.grow("burst", announce=5)
    await _next(revisions)
    # A later, single announcement: its refresh is the next one there is.
    await growing_upstream.grow("single", announce=1)
    await _next(revisions)

    assert await growing_upstream.asked("tools/list") == listed_before + 2
    names = [b.name for b in (await registry.catalog.catalog()).tools]
    assert {"grower__burst", "grower__single"} <= set(names)


async def test_a_follower_lists_its_upstream_once_when_its_stream_opens_to_catch_up(
    registry: Registry, growing_upstream
):
    # Announcements made before anybody listened are lost; one refresh makes up for them.
    await registry.gateways.register("grower", growing_upstream.url, by=BY)

    await _eventually(lambda: _listed(growing_upstream, times=2), what="a refresh once the stream opened")
    assert await growing_upstream.listening() == 1


async def test_a_deleted_gateway_is_no_longer_followed(
    registry: Registry, registry_service: RegistryService, followed: str, growing_upstream
):
    assert followed in registry_service.followers.followed

    await registry.gateways.delete(followed, by=BY)

    await _eventually(lambda: _not_followed(registry_service, followed), what="the follower to stop")
    await _eventually(lambda: _none_listening(growing_upstream), what="the event stream to close")


async def test_a_gateway_registered_later_is_followed_and_stopping_the_registry_ends_its_stream(
    registry: Registry, registry_service: RegistryService, alpha, growing_upstream
):
    await registry.gateways.register("alpha", alpha.url, by=BY)
    grower = await registry.gateways.register("grower", growing_upstream.url, by=BY)

    await _eventually(growing_upstream.listening, what="the follower's event stream")
    assert grower.gateway.id in registry_service.followers.followed

    await registry_service.drain()
    await _eventually(lambda: _none_listening(growing_upstream), what="the event stream to close")


async def _not_followed(service: RegistryService, gateway_id: str) -> bool:
    return gateway_id not in service.followers.followed


async def _none_listening(upstream) -> bool:
    return await upstream.listening() == 0
