"""What registering and refreshing a gateway finds: tools, resources, templates, prompts."""

from __future__ import annotations

import httpx
import pytest


async def _register(api: httpx.AsyncClient, name: str, url: str) -> dict:
    response = await api.post("/gateways", json={"name": name, "url": url})
    assert response.status_code == 201, response.text
    return response.json()


async def test_registering_stores_resources_templates_prompts_and_capabilities(api, alpha):
    gateway = await _register(api, "alpha", alpha.url)

    assert (gateway["resource_count"], gateway["resource_template_count"], gateway["prompt_count"]) == (
        1,
        1,
        1,
    )
    assert {"tools", "resources", "prompts"} <= set(gateway["capabilities"])
    [readme] = gateway["resources"]
    assert readme["uri"] == "memo://alpha/readme"
    assert (readme["name"], readme["description"], readme["mimeType"]) == (
        "readme",
        "About alpha.",
        "text/plain",
    )
    assert readme["gateway_name"] == "alpha"
    [note] = gateway["resource_templates"]
    assert (note["uriTemplate"], note["name"]) == ("memo://alpha/notes/{topic}", "note")
    [greet] = gateway["prompts"]
    assert (greet["name"], greet["upstream_name"], greet["description"]) == (
        "alpha__greet",
        "greet",
        "Greet someone.",
    )
    assert [a["name"] for a in greet["arguments"]] == ["who"]
    assert (await api.get(f"/gateways/{gateway['id']}")).json() == gateway


async def test_the_gateway_list_counts_what_each_offers(api, alpha):
    await _register(api, "alpha", alpha.url)

    [listed] = (await api.get("/gateways")).json()["items"]

    assert (listed["tool_count"], listed["resource_count"], listed["prompt_count"]) == (3, 1, 1)
    assert listed["resource_template_count"] == 1
    assert "resources" in listed["capabilities"]


async def test_resources_templates_and_prompts_are_listed_in_pages(api, alpha, beta):
    alpha_id = (await _register(api, "alpha", alpha.url))["id"]
    await _register(api, "beta", beta.url)

    resources = (await api.get("/resources")).json()
    templates = (await api.get("/resource-templates")).json()
    prompts = (await api.get("/prompts", params={"limit": 1, "offset": 1})).json()
    of_alpha = (await api.get("/prompts", params={"gateway_id": alpha_id})).json()

    assert [r["uri"] for r in resources["items"]] == ["memo://alpha/readme", "memo://beta/readme"]
    assert resources["total"] == 2
    assert [t["uriTemplate"] for t in templates["items"]] == [
        "memo://alpha/notes/{topic}",
        "memo://beta/notes/{topic}",
    ]
    assert ([p["name"] for p in prompts["items"]], prompts["total"]) == (["beta__greet"], 2)
    assert [p["name"] for p in of_alpha["items"]] == ["alpha__greet"]


async def test_an_upstream_advertising_only_tools_is_not_asked_for_resources_or_prompts(
    api, not_mcp, methods_asked
):
    gateway = await _register(api, "lean", f"{not_mcp}/tools-only")

    assert [t["name"] for t in gateway["tools"]] == ["lean__only"]
    assert gateway["capabilities"] == {"tools": {}}
    assert (gateway["resources"], gateway["resource_templates"], gateway["prompts"]) == ([], [], [])
    assert not [m for m in methods_asked if m.startswith(("resources/", "prompts/"))]


async def test_an_upstream_failing_its_advertised_lists_is_registered_with_its_tools_only(
    api, not_mcp, methods_asked, caplog: pytest.LogCaptureFixture
):
    gateway = await _register(api, "half", f"{not_mcp}/half-implemented")

    assert [t["name"] for t in gateway["tools"]] == ["half__only"]
    assert (gateway["resources"], gateway["resource_templates"], gateway["prompts"]) == ([], [], [])
    assert {"resources/list", "resources/templates/list", "prompts/list"} <= set(methods_asked)
    assert "prompts/list failed (JSON-RPC error -32601" in caplog.text


async def test_refresh_finds_new_prompts_resources_and_templates_and_keeps_the_other_ids(
    api, growing_upstream
):
    before = await _register(api, "grower", growing_upstream.url)
    await growing_upstream.grow("farewell", "prompt")
    await growing_upstream.grow("memo://growing/extra", "resource")
    await growing_upstream.grow("memo://growing/drafts/{topic}", "template")

    after = (await api.post(f"/gateways/{before['id']}/refresh")).json()

    assert [p["name"] for p in after["prompts"]] == ["grower__farewell", "grower__greet"]
    assert [r["uri"] for r in after["resources"]] == ["memo://growing/extra", "memo://growing/readme"]
    assert [t["uriTemplate"] for t in after["resource_templates"]] == [
        "memo://growing/drafts/{topic}",
        "memo://growing/notes/{topic}",
    ]
    assert after["prompts"][1]["id"] == before["prompts"][0]["id"]
    assert after["resources"][1]["id"] == before["resources"][0]["id"]
    assert after["resource_templates"][1]["id"] == before["resource_templates"][0]["id"]


def _id_of(items: list[dict], **match: str) -> str:
    return next(i["id"] for i in items if all(i[k] == v for k, v in match.items()))


def _tool(name: str) -> dict:
    return {"name": name, "inputSchema": {"type": "object"}}


async def test_refresh_replaces_everything_the_upstream_lists(api, not_mcp, script):
    script.update(
        tools=[_tool("kept")],
        resources=[{"uri": "file:///kept", "name": "kept"}, {"uri": "file:///gone", "name": "gone"}],
        resourceTemplates=[{"uriTemplate": "file:///logs/{day}", "name": "logs"}],
        prompts=[{"name": "kept"}, {"name": "gone"}],
    )
    before = await _register(api, "moving", f"{not_mcp}/scripted")
    script.update(
        resources=[{"uri": "file:///kept", "name": "kept", "description": "now described"}],
        resourceTemplates=[],
        prompts=[{"name": "kept"}, {"name": "new"}],
    )

    after = (await api.post(f"/gateways/{before['id']}/refresh")).json()

    assert [(r["uri"], r["description"]) for r in after["resources"]] == [("file:///kept", "now described")]
    assert after["resources"][0]["id"] == _id_of(before["resources"], uri="file:///kept")
    assert after["resource_templates"] == []
    assert [p["upstream_name"] for p in after["prompts"]] == ["kept", "new"]
    assert after["prompts"][0]["id"] == _id_of(before["prompts"], upstream_name="kept")
    assert (after["resource_count"], after["resource_template_count"], after["prompt_count"]) == (1, 0, 2)


async def test_malformed_resource_lists_refuse_the_registration(api, not_mcp, script):
    script.update(tools=[_tool("t")], resources=[{"name": "no uri"}])

    response = await api.post("/gateways", json={"name": "broken", "url": f"{not_mcp}/scripted"})

    assert response.status_code == 400
    assert "listed a resource without a uri" in response.json()["detail"]


async def test_deleting_a_gateway_removes_its_resources_and_prompts(api, alpha, beta):
    doomed = await _register(api, "alpha", alpha.url)
    await _register(api, "beta", beta.url)

    await api.delete(f"/gateways/{doomed['id']}")

    assert [r["gateway_name"] for r in (await api.get("/resources")).json()["items"]] == ["beta"]
    assert [t["gateway_name"] for t in (await api.get("/resource-templates")).json()["items"]] == ["beta"]
    assert [p["name"] for p in (await api.get("/prompts")).json()["items"]] == ["beta__greet"]


async def test_prompts_exposed_past_64_characters_are_refused_at_registration(api, growing_upstream):
    await growing_upstream.grow("p" * 60, "prompt")

    response = await api.post("/gateways", json={"name": "gw2", "url": growing_upstream.url})

    assert response.status_code == 400
    assert "prompt names longer than 64 characters" in response.json()["detail"]
