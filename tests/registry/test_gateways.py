"""Registering, refreshing and removing upstream gateways through the HTTP API."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from switchboard_registry.domain.registry import Registry


async def _register(api: httpx.AsyncClient, name: str, url: str) -> httpx.Response:
    return await api.post("/gateways", json={"name": name, "url": url})


async def _nothing_stored(api: httpx.AsyncClient) -> None:
    assert (await api.get("/gateways")).json()["total"] == 0
    assert (await api.get("/tools")).json()["total"] == 0


async def test_registering_a_real_upstream_stores_its_tools(api, alpha):
    response = await _register(api, "alpha", alpha.url)

    assert response.status_code == 201, response.text
    gateway = response.json()
    assert gateway["name"] == "alpha"
    assert gateway["url"] == alpha.url
    assert gateway["created_by"] == "u-admin"
    assert gateway["server_info"]["name"] == "alpha"
    assert gateway["tool_count"] == 3
    assert sorted(t["name"] for t in gateway["tools"]) == ["alpha__add", "alpha__echo", "alpha__grow"]

    tools = (await api.get("/tools", params={"gateway_id": gateway["id"]})).json()
    assert tools["total"] == 3
    echo = next(t for t in tools["items"] if t["upstream_name"] == "echo")
    assert echo["name"] == "alpha__echo"
    assert echo["gateway_id"] == gateway["id"]
    assert echo["gateway_name"] == "alpha"
    assert echo["description"] == "Echo the text back."
    assert echo["inputSchema"]["properties"]["text"]["type"] == "string"

    again = (await api.get(f"/gateways/{gateway['id']}")).json()
    assert again["tools"] == gateway["tools"]


async def test_an_unreachable_upstream_is_refused_and_nothing_is_stored(api, closed_port_url):
    response = await _register(api, "down", closed_port_url)

    assert response.status_code == 400
    assert response.json()["error"] == "InvalidInput"
    detail = response.json()["detail"]
    assert detail.startswith(f"could not register 'down': upstream {closed_port_url} is unreachable")
    await _nothing_stored(api)


async def test_a_web_server_that_is_not_mcp_is_refused_and_nothing_is_stored(api, not_mcp):
    response = await _register(api, "web", f"{not_mcp}/html")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "could not register 'web'" in detail
    assert "HTTP 404" in detail
    await _nothing_stored(api)


async def test_an_upstream_answering_with_a_json_rpc_error_is_refused_with_its_message(api, not_mcp):
    response = await _register(api, "rpcerr", f"{not_mcp}/rpc-error")

    assert response.status_code == 400
    assert "JSON-RPC error -32601: no MCP here" in response.json()["detail"]
    await _nothing_stored(api)


async def test_a_second_gateway_with_the_same_name_or_url_is_a_conflict(api, alpha, beta):
    assert (await _register(api, "alpha", alpha.url)).status_code == 201

    same_name = await _register(api, "alpha", beta.url)
    same_url = await _register(api, "other", alpha.url)

    assert same_name.status_code == 409
    assert same_name.json() == {"error": "Conflict", "detail": "a gateway named 'alpha' already exists"}
    assert same_url.status_code == 409
    assert same_url.json()["detail"] == f"a gateway serving {alpha.url} already exists"
    assert (await api.get("/gateways")).json()["total"] == 1


@pytest.mark.parametrize("name", ["", "-lead", "_lead", "has space", "dot.ted", "dou__ble"])
async def test_malformed_gateway_names_are_refused(api, alpha, name):
    response = await _register(api, name, alpha.url)

    assert response.status_code == 400
    assert "gateway name" in response.json()["detail"]


async def test_a_gateway_name_past_32_characters_is_refused_at_the_edge(api, alpha):
    response = await _register(api, "x" * 33, alpha.url)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/mcp",
        "127.0.0.1:8000/mcp",
        "http://",
        "http://[::1/mcp",
        "http://127.0.0.1:99999/mcp",
        "http://127.0.0.1:0/mcp",
        "http://exa mple.com/mcp",
        "http://a\x00b/mcp",
        f"http://127.0.0.1/{'x' * 2048}",
        "http://a\\b/mcp",
        "http://127.0.0.1:1\\@example.com/mcp",
        "http://user:pw@127.0.0.1/mcp",
        "http://127.0.0.1/a\tb",
        "http://-bad-/mcp",
    ],
)
async def test_urls_that_are_not_plain_http_are_refused_at_the_edge(api, url):
    response = await _register(api, "gw", url)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] in (["body", "url"], ["body"])  # ["body"]: a NUL
    assert (await api.get("/gateways")).json()["total"] == 0


async def test_a_name_of_32_characters_is_accepted(api, alpha):
    assert (await _register(api, "g" * 32, alpha.url)).status_code == 201


async def test_tools_exposed_past_64_characters_are_refused_at_registration(api, growing_upstream):
    await growing_upstream.grow("t" * 60)

    too_long = await _register(api, "gw2", growing_upstream.url)  # gw2__ttt… is 65 characters
    just_fits = await _register(api, "gw", growing_upstream.url)  # gw__ttt… is 64

    assert too_long.status_code == 400
    assert "longer than 64 characters" in too_long.json()["detail"]
    assert f"gw2__{'t' * 60}" in too_long.json()["detail"]
    assert just_fits.status_code == 201
    assert f"gw__{'t' * 60}" in [t["name"] for t in just_fits.json()["tools"]]


async def test_refresh_finds_new_tools_and_keeps_the_ids_of_the_others(
    api, growing_upstream, registry: Registry
):
    gateway = (await _register(api, "grower", growing_upstream.url)).json()
    ids_before = {t["name"]: t["id"] for t in gateway["tools"]}
    revision_before = await registry.changes.current()
    await growing_upstream.grow("fresh")

    response = await api.post(f"/gateways/{gateway['id']}/refresh")

    assert response.status_code == 200
    ids_after = {t["name"]: t["id"] for t in response.json()["tools"]}
    assert "grower__fresh" in ids_after
    assert all(ids_after[name] == tool_id for name, tool_id in ids_before.items())
    assert await registry.changes.current() > revision_before


async def test_refresh_of_an_unchanged_upstream_leaves_the_revision_alone(api, alpha, registry: Registry):
    gateway = (await _register(api, "alpha", alpha.url)).json()
    revision = await registry.changes.current()

    response = await api.post(f"/gateways/{gateway['id']}/refresh")

    assert response.status_code == 200
    refreshed = datetime.fromisoformat(response.json()["last_refreshed_at"])
    assert refreshed > datetime.fromisoformat(gateway["last_refreshed_at"])
    assert await registry.changes.current() == revision


async def test_refresh_of_an_upstream_that_went_away_fails_and_keeps_its_tools(api, growing_upstream):
    gateway = (await _register(api, "gone", growing_upstream.url)).json()
    growing_upstream.process.terminate()
    growing_upstream.process.wait(timeout=10)

    response = await api.post(f"/gateways/{gateway['id']}/refresh")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("could not refresh 'gone': upstream")
    assert (await api.get(f"/gateways/{gateway['id']}")).json()["tool_count"] == 3


async def test_deleting_a_gateway_removes_it_and_its_tools(api, alpha, beta):
    doomed = (await _register(api, "alpha", alpha.url)).json()
    await _register(api, "beta", beta.url)

    assert (await api.delete(f"/gateways/{doomed['id']}")).status_code == 204

    assert (await api.get(f"/gateways/{doomed['id']}")).status_code == 404
    assert (await api.delete(f"/gateways/{doomed['id']}")).status_code == 404
    tools = (await api.get("/tools")).json()
    assert tools["total"] == 3
    assert {t["gateway_name"] for t in tools["items"]} == {"beta"}


async def test_gateways_and_tools_are_listed_in_pages(api, alpha, beta):
    await _register(api, "alpha", alpha.url)
    await _register(api, "beta", beta.url)

    first = (await api.get("/gateways", params={"limit": 1})).json()
    second = (await api.get("/gateways", params={"limit": 1, "offset": 1})).json()
    tools = (await api.get("/tools", params={"limit": 4, "offset": 2})).json()

    assert [g["name"] for g in first["items"]] == ["alpha"]
    assert [g["name"] for g in second["items"]] == ["beta"]
    assert first["total"] == second["total"] == 2
    assert (first["limit"], second["offset"]) == (1, 1)
    assert [t["name"] for t in tools["items"]] == ["alpha__grow", "beta__add", "beta__echo", "beta__grow"]
    assert tools["total"] == 6


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}])
async def test_page_bounds_are_enforced(api, params):
    assert (await api.get("/gateways", params=params)).status_code == 422


async def test_an_unknown_gateway_is_not_found(api):
    response = await api.get("/gateways/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "no gateway 'nope'"}
