"""Composing virtual servers from registered tools, and the names they expose."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
async def gateways(api: httpx.AsyncClient, alpha, beta) -> dict[str, dict]:
    """alpha and beta registered; both have the tools echo, add and grow."""
    registered = {}
    for upstream in (alpha, beta):
        response = await api.post("/gateways", json={"name": upstream.name, "url": upstream.url})
        assert response.status_code == 201, response.text
        registered[upstream.name] = response.json()
    return registered


def _tool_id(gateway: dict, upstream_name: str) -> str:
    return next(t["id"] for t in gateway["tools"] if t["name"].endswith(f"__{upstream_name}"))


async def _create(api: httpx.AsyncClient, name: str, tools: list[str], **extra) -> httpx.Response:
    return await api.post("/servers", json={"name": name, "tools": tools, **extra})


async def test_a_server_exposes_chosen_tools_by_qualified_name_in_the_order_given(api, gateways):
    beta_add = _tool_id(gateways["beta"], "add")

    response = await _create(api, "mixed", ["alpha__echo", beta_add], description="two tools")

    assert response.status_code == 201, response.text
    server = response.json()
    assert (server["name"], server["description"], server["bare_names"]) == ("mixed", "two tools", False)
    assert server["tool_count"] == 2
    assert [t["name"] for t in server["tools"]] == ["alpha__echo", "beta__add"]
    assert [t["upstream_name"] for t in server["tools"]] == ["echo", "add"]
    assert server["tools"][1]["id"] == beta_add
    assert (await api.get(f"/servers/{server['id']}")).json() == server


async def test_a_tool_named_twice_is_exposed_once(api, gateways):
    alpha_echo = _tool_id(gateways["alpha"], "echo")

    server = (await _create(api, "once", ["alpha__echo", alpha_echo, "alpha__echo"])).json()

    assert [t["name"] for t in server["tools"]] == ["alpha__echo"]


async def test_bare_names_are_exposed_when_they_are_distinct(api, gateways):
    response = await _create(api, "bare", ["alpha__echo", "beta__add"], bare_names=True)

    assert response.status_code == 201, response.text
    tools = response.json()["tools"]
    assert [(t["name"], t["qualified_name"]) for t in tools] == [
        ("echo", "alpha__echo"),
        ("add", "beta__add"),
    ]


async def test_bare_names_that_clash_are_refused_naming_the_clashing_tools(api, gateways):
    response = await _create(api, "clash", ["alpha__echo", "beta__echo", "alpha__add"], bare_names=True)

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "Conflict"
    assert "alpha__echo and beta__echo share the name 'echo'" in body["detail"]
    assert body["data"] == {"clashing": {"echo": ["alpha__echo", "beta__echo"]}}
    assert (await api.get("/servers")).json()["total"] == 0


async def test_the_same_tools_under_qualified_names_do_not_clash(api, gateways):
    response = await _create(api, "prefixed", ["alpha__echo", "beta__echo"])

    assert response.status_code == 201
    assert [t["name"] for t in response.json()["tools"]] == ["alpha__echo", "beta__echo"]


async def test_unknown_tool_references_are_refused_and_listed(api, gateways):
    response = await _create(api, "typos", ["alpha__echo", "alpha__nope", "gamma__echo", "no-such-id"])

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "unknown tools: 'alpha__nope', 'gamma__echo', 'no-such-id'"
    assert body["data"] == {"unknown": ["alpha__nope", "gamma__echo", "no-such-id"]}


async def test_a_second_server_with_the_same_name_is_a_conflict(api, gateways):
    assert (await _create(api, "dup", ["alpha__echo"])).status_code == 201

    response = await _create(api, "dup", ["beta__echo"])

    assert response.status_code == 409
    assert response.json()["detail"] == "a server named 'dup' already exists"


async def test_a_blank_server_name_is_refused(api, gateways):
    assert (await _create(api, "   ", ["alpha__echo"])).status_code == 400


async def test_servers_are_listed_in_pages_and_can_be_deleted(api, gateways):
    ids = [(await _create(api, name, ["alpha__echo"])).json()["id"] for name in ("one", "two", "three")]

    page = (await api.get("/servers", params={"limit": 2})).json()
    assert [s["name"] for s in page["items"]] == ["one", "three"]
    assert (page["total"], page["items"][0]["tool_count"]) == (3, 1)

    assert (await api.delete(f"/servers/{ids[0]}")).status_code == 204
    assert (await api.get(f"/servers/{ids[0]}")).status_code == 404
    assert (await api.delete(f"/servers/{ids[0]}")).status_code == 404
    assert (await api.get("/servers")).json()["total"] == 2


async def test_a_deleted_gateway_leaves_its_servers_without_its_tools(api, gateways):
    server = (await _create(api, "mixed", ["alpha__echo", "beta__echo"])).json()

    await api.delete(f"/gateways/{gateways['alpha']['id']}")

    after = (await api.get(f"/servers/{server['id']}")).json()
    assert [t["name"] for t in after["tools"]] == ["beta__echo"]
