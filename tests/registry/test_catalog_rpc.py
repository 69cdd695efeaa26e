"""The registry's gRPC face, over a real gRPC server: catalogs and the change feed."""

from __future__ import annotations

import asyncio

import grpc
import orjson
import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.errors import InvalidInput
from switchboard_core.principals import Principal
from switchboard_registry.domain.naming import NamingChange
from switchboard_registry.domain.registry import Registry

BY = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")


@pytest.fixture
async def registered(registry: Registry, alpha, beta) -> Registry:
    await registry.gateways.register("alpha", alpha.url, by=BY)
    await registry.gateways.register("beta", beta.url, by=BY)
    return registry


async def test_a_server_catalog_binds_each_exposed_name_to_its_upstream(
    registered: Registry, registry_stub, alpha
):
    server = await registered.servers.create(
        "bare", tools=["alpha__echo", "beta__add"], bare_names=True, by=BY
    )

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id=server.server.id))

    assert (catalog.server_id, catalog.server_name) == (server.server.id, "bare")
    assert catalog.revision == await registered.changes.current()
    assert [(t.name, t.upstream_name, t.gateway_name) for t in catalog.tools] == [
        ("echo", "echo", "alpha"),
        ("add", "add", "beta"),
    ]
    echo = catalog.tools[0]
    assert echo.upstream_url == alpha.url
    assert echo.tool_id == server.tools[0].tool.id
    assert echo.gateway_id == server.tools[0].tool.gateway_id
    definition = orjson.loads(echo.definition_json)
    assert definition["name"] == "echo"
    assert definition["description"] == "Echo the text back."
    assert definition["inputSchema"]["required"] == ["text"]


async def test_the_catalog_without_a_server_holds_every_tool_by_qualified_name(
    registered: Registry, registry_stub
):
    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest())

    assert catalog.server_id == ""
    assert sorted(t.name for t in catalog.tools) == [
        "alpha__add",
        "alpha__echo",
        "alpha__grow",
        "beta__add",
        "beta__echo",
        "beta__grow",
    ]
    assert all(t.name == f"{t.gateway_name}__{t.upstream_name}" for t in catalog.tools)


async def test_an_unknown_server_is_not_found(registry_stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id="no-such-server"))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no server 'no-such-server'"


async def test_a_watcher_sees_a_new_revision_after_a_change(registry: Registry, registry_stub, alpha):
    stream = registry_stub.WatchCatalog(registry_pb2.WatchCatalogRequest())
    async with asyncio.timeout(10):
        first = await stream.read()  # the current revision: the watch is in place

        await registry.gateways.register("alpha", alpha.url, by=BY)
        change = await stream.read()

    assert change.revision > first.revision
    assert change.revision == await registry.changes.current()
    stream.cancel()


async def test_every_watcher_hears_of_each_change(registry: Registry, registry_stub, alpha):
    streams = [registry_stub.WatchCatalog(registry_pb2.WatchCatalogRequest()) for _ in range(3)]
    async with asyncio.timeout(10):
        firsts = [await stream.read() for stream in streams]

        detail = await registry.gateways.register("alpha", alpha.url, by=BY)
        await registry.gateways.delete(detail.gateway.id, by=BY)
        revision = await registry.changes.current()
        for stream, first in zip(streams, firsts, strict=True):
            seen = first.revision
            while seen < revision:
                seen = (await stream.read()).revision

    for stream in streams:
        stream.cancel()


async def test_the_revision_rises_with_each_committed_change_and_only_then(registry: Registry, alpha):
    revisions = [await registry.changes.current()]
    gateway = await registry.gateways.register("alpha", alpha.url, by=BY)
    revisions.append(await registry.changes.current())
    server = await registry.servers.create("s", tools=["alpha__echo"], by=BY)
    revisions.append(await registry.changes.current())

    with pytest.raises(InvalidInput):
        await registry.servers.create("t", tools=["alpha__missing"], by=BY)
    revisions.append(await registry.changes.current())

    await registry.servers.delete(server.server.id, by=BY)
    await registry.gateways.delete(gateway.gateway.id, by=BY)
    revisions.append(await registry.changes.current())

    assert revisions[0] < revisions[1] < revisions[2] == revisions[3] < revisions[4]


async def test_watch_streams_end_when_the_service_drains(registry_service, registry_stub):
    stream = registry_stub.WatchCatalog(registry_pb2.WatchCatalogRequest())
    async with asyncio.timeout(10):
        await stream.read()

        await registry_service.drain()

        assert await stream.read() is grpc.aio.EOF


async def test_a_server_catalog_carries_its_resources_templates_prompts_and_upstreams(
    registered: Registry, registry_stub, alpha, beta
):
    server = await registered.servers.create(
        "everything",
        gateways=["alpha"],
        prompts=["beta__greet"],
        naming=NamingChange(mode="bare", renames={"beta__greet": "greet_beta"}),
        by=BY,
    )

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id=server.server.id))

    assert [t.name for t in catalog.tools] == ["add", "echo", "grow"]
    [readme] = catalog.resources
    assert (readme.uri, readme.gateway_id) == ("memo://alpha/readme", server.selection.gateways[0].id)
    assert readme.resource_id == server.contents.resources[0].id
    assert orjson.loads(readme.definition_json)["mimeType"] == "text/plain"
    [note] = catalog.resource_templates
    assert note.uri == "memo://alpha/notes/{topic}"
    assert orjson.loads(note.definition_json)["uriTemplate"] == note.uri
    assert [(p.name, p.upstream_name) for p in catalog.prompts] == [
        ("greet_beta", "greet"),
        ("greet", "greet"),
    ]
    assert orjson.loads(catalog.prompts[0].definition_json)["arguments"][0]["name"] == "who"
    assert [(u.name, u.url) for u in catalog.upstreams] == [("alpha", alpha.url), ("beta", beta.url)]
    for upstream in catalog.upstreams:
        assert {"tools", "resources", "prompts"} <= set(orjson.loads(upstream.capabilities_json))


async def test_the_catalog_without_a_server_holds_everything_prompts_by_qualified_name(
    registered: Registry, registry_stub
):
    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest())

    assert [(p.name, p.upstream_name) for p in catalog.prompts] == [
        ("alpha__greet", "greet"),
        ("beta__greet", "greet"),
    ]
    assert [r.uri for r in catalog.resources] == ["memo://alpha/readme", "memo://beta/readme"]
    assert [t.uri for t in catalog.resource_templates] == [
        "memo://alpha/notes/{topic}",
        "memo://beta/notes/{topic}",
    ]
    assert [u.name for u in catalog.upstreams] == ["alpha", "beta"]


async def test_upstreams_that_contribute_nothing_are_left_out_of_a_catalog(
    registered: Registry, registry_stub
):
    server = await registered.servers.create("only-alpha", tools=["alpha__echo"], by=BY)

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id=server.server.id))

    assert [u.name for u in catalog.upstreams] == ["alpha"]
    assert (list(catalog.resources), list(catalog.prompts)) == ([], [])


async def test_in_the_catalog_of_everything_a_uri_two_gateways_offer_comes_from_both_in_order(
    registered: Registry, registry_stub, growing_upstream
):
    # Both offers travel (a caller may see only the second gateway); the proxy serves
    # each caller the first it may read.
    await growing_upstream.grow("memo://alpha/readme", "resource")
    grower = await registered.gateways.register("grower", growing_upstream.url, by=BY)

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest())

    readmes = [r for r in catalog.resources if r.uri == "memo://alpha/readme"]
    assert [r.gateway_id for r in readmes] == [_gateway_id_of(catalog, "alpha"), grower.gateway.id]
    assert "memo://growing/readme" in [r.uri for r in catalog.resources]
    assert grower.gateway.id in [u.gateway_id for u in catalog.upstreams]


def _gateway_id_of(catalog: registry_pb2.Catalog, name: str) -> str:
    return next(u.gateway_id for u in catalog.upstreams if u.name == name)


async def test_a_watcher_hears_of_a_server_update_and_of_a_refresh_that_changes_the_listing(
    registered: Registry, registry_stub, growing_upstream
):
    grower = await registered.gateways.register("grower", growing_upstream.url, by=BY)
    server = await registered.servers.create("watched", gateways=["grower"], by=BY)
    stream = registry_stub.WatchCatalog(registry_pb2.WatchCatalogRequest())
    async with asyncio.timeout(10):
        first = (await stream.read()).revision

        await registered.servers.update(server.server.id, naming=NamingChange(separator="."), by=BY)
        after_update = (await stream.read()).revision
        await growing_upstream.grow("farewell", "prompt")
        await registered.gateways.refresh(grower.gateway.id)
        after_refresh = (await stream.read()).revision

    assert first < after_update < after_refresh == await registered.changes.current()
    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id=server.server.id))
    assert "grower.farewell" in [p.name for p in catalog.prompts]
    stream.cancel()


async def test_the_access_index_names_each_servers_tools_as_it_exposes_them_with_their_access(
    registry: Registry, registry_stub, alpha
):
    await registry.gateways.register("alpha", alpha.url, by=BY, visibility="public")
    server = await registry.servers.create(
        "bare", tools=["alpha__echo"], bare_names=True, by=BY, visibility="private"
    )

    index = await registry_stub.GetAccessIndex(registry_pb2.GetAccessIndexRequest())

    assert index.revision == await registry.changes.current()
    (entry,) = index.servers
    assert entry.server_id == server.server.id
    assert (entry.access.owner_id, entry.access.team_id, entry.access.visibility) == (
        "u-admin",
        "team-admin",
        "private",
    )
    assert [(t.name, t.access.visibility) for t in entry.tools] == [("echo", "public")]
    assert sorted(t.name for t in index.tools) == ["alpha__add", "alpha__echo", "alpha__grow"]


async def test_the_access_index_follows_a_change_of_visibility(registry: Registry, registry_stub, alpha):
    await registry.gateways.register("alpha", alpha.url, by=BY)
    server = await registry.servers.create("s", gateways=["alpha"], by=BY, visibility="public")
    await registry.servers.update(server.server.id, visibility="private", by=BY)

    index = await registry_stub.GetAccessIndex(registry_pb2.GetAccessIndexRequest())

    assert [s.access.visibility for s in index.servers] == ["private"]
    assert index.revision == await registry.changes.current()
