"""Composing virtual servers from resources, prompts and whole gateways, and changing them."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
async def gateways(api: httpx.AsyncClient, alpha, beta) -> dict[str, dict]:
    """alpha and beta registered: tools echo, add, grow; resource memo://<name>/readme;
    template memo://<name>/notes/{topic}; prompt greet."""
    registered = {}
    for upstream in (alpha, beta):
        response = await api.post("/gateways", json={"name": upstream.name, "url": upstream.url})
        assert response.status_code == 201, response.text
        registered[upstream.name] = response.json()
    return registered


async def _create(api: httpx.AsyncClient, name: str, **body) -> httpx.Response:
    return await api.post("/servers", json={"name": name, **body})


async def test_a_server_exposes_resources_templates_and_prompts_chosen_by_reference(api, gateways):
    beta_greet = gateways["beta"]["prompts"][0]["id"]
    alpha_readme = gateways["alpha"]["resources"][0]["id"]

    response = await _create(
        api,
        "picked",
        resources=["memo://beta/readme", alpha_readme, "memo://alpha/notes/{topic}"],
        prompts=["alpha__greet", beta_greet],
    )

    assert response.status_code == 201, response.text
    server = response.json()
    assert [r["uri"] for r in server["resources"]] == ["memo://beta/readme", "memo://alpha/readme"]
    assert [t["uriTemplate"] for t in server["resource_templates"]] == ["memo://alpha/notes/{topic}"]
    assert [(p["name"], p["qualified_name"]) for p in server["prompts"]] == [
        ("alpha__greet", "alpha__greet"),
        ("beta__greet", "beta__greet"),
    ]
    assert (server["tool_count"], server["resource_count"], server["resource_template_count"]) == (0, 2, 1)
    assert server["prompt_count"] == 2
    assert server["chosen"]["resources"] == [gateways["beta"]["resources"][0]["id"], alpha_readme]
    assert server["gateways"] == []
    assert (await api.get(f"/servers/{server['id']}")).json() == server


async def test_a_server_including_a_gateway_exposes_everything_it_offers(api, gateways):
    response = await _create(api, "whole", gateways=["alpha"], tools=["beta__echo"])

    assert response.status_code == 201, response.text
    server = response.json()
    assert server["gateways"] == [{"id": gateways["alpha"]["id"], "name": "alpha"}]
    assert [t["name"] for t in server["tools"]] == ["beta__echo", "alpha__add", "alpha__echo", "alpha__grow"]
    assert [r["uri"] for r in server["resources"]] == ["memo://alpha/readme"]
    assert [t["uriTemplate"] for t in server["resource_templates"]] == ["memo://alpha/notes/{topic}"]
    assert [p["name"] for p in server["prompts"]] == ["alpha__greet"]
    assert server["chosen"]["tools"] == [
        next(t["id"] for t in gateways["beta"]["tools"] if t["upstream_name"] == "echo")
    ]
    assert (server["tool_count"], server["resource_count"], server["prompt_count"]) == (4, 1, 1)


async def test_a_gateway_included_by_id_and_its_items_chosen_too_are_exposed_once(api, gateways):
    alpha = gateways["alpha"]

    server = (await _create(api, "twice", gateways=[alpha["id"], "alpha"], tools=["alpha__echo"])).json()

    assert [t["name"] for t in server["tools"]] == ["alpha__echo", "alpha__add", "alpha__grow"]
    assert len(server["gateways"]) == 1


async def test_an_included_gateway_brings_what_a_refresh_finds(api, growing_upstream):
    grower = (await api.post("/gateways", json={"name": "grower", "url": growing_upstream.url})).json()
    server = (await _create(api, "follows", gateways=["grower"])).json()
    await growing_upstream.grow("fresh")
    await growing_upstream.grow("farewell", "prompt")

    await api.post(f"/gateways/{grower['id']}/refresh")

    after = (await api.get(f"/servers/{server['id']}")).json()
    assert "grower__fresh" in [t["name"] for t in after["tools"]]
    assert [p["name"] for p in after["prompts"]] == ["grower__farewell", "grower__greet"]
    listed = (await api.get("/servers")).json()["items"][0]
    assert (listed["tool_count"], listed["prompt_count"]) == (4, 2)


async def test_a_deleted_gateway_drops_out_of_servers_including_it(api, gateways):
    server = (await _create(api, "both", gateways=["alpha", "beta"])).json()

    await api.delete(f"/gateways/{gateways['alpha']['id']}")

    after = (await api.get(f"/servers/{server['id']}")).json()
    assert {t["gateway_name"] for t in after["tools"]} == {"beta"}
    assert [g["name"] for g in after["gateways"]] == ["beta"]


async def test_unknown_references_of_each_kind_are_refused_and_listed(api, gateways):
    resources = await _create(api, "r", resources=["memo://alpha/readme", "memo://nowhere"])
    prompts = await _create(api, "p", prompts=["alpha__greet", "alpha__nope"])
    included = await _create(api, "g", gateways=["alpha", "gamma"])

    assert resources.status_code == prompts.status_code == included.status_code == 400
    assert resources.json()["detail"] == "unknown resources: 'memo://nowhere'"
    assert prompts.json()["detail"] == "unknown prompts: 'alpha__nope'"
    assert included.json() == {
        "error": "InvalidInput",
        "detail": "unknown gateways: 'gamma'",
        "data": {"unknown": ["gamma"]},
    }
    assert (await api.get("/servers")).json()["total"] == 0


async def test_a_uri_two_gateways_offer_must_be_chosen_by_id(api, gateways, growing_upstream):
    await growing_upstream.grow("memo://alpha/readme", "resource")
    grower = (await api.post("/gateways", json={"name": "grower", "url": growing_upstream.url})).json()

    ambiguous = await _create(api, "which", resources=["memo://alpha/readme"])
    by_id = await _create(
        api,
        "this",
        resources=[next(r["id"] for r in grower["resources"] if r["uri"] == "memo://alpha/readme")],
    )

    assert ambiguous.status_code == 400
    assert "'memo://alpha/readme' is offered by alpha" in ambiguous.json()["detail"]
    assert "refer to each by id" in ambiguous.json()["detail"]
    assert by_id.status_code == 201
    assert [r["gateway_name"] for r in by_id.json()["resources"]] == ["grower"]


async def test_patch_changes_only_what_is_given(api, gateways):
    created = (
        await _create(api, "old", description="first", tools=["alpha__echo"], prompts=["alpha__greet"])
    ).json()

    response = await api.patch(
        f"/servers/{created['id']}", json={"name": "new", "tools": ["beta__add"], "gateways": ["beta"]}
    )

    assert response.status_code == 200, response.text
    server = response.json()
    assert (server["name"], server["description"]) == ("new", "first")
    assert [t["name"] for t in server["tools"]] == ["beta__add", "beta__echo", "beta__grow"]
    assert [p["name"] for p in server["prompts"]] == ["alpha__greet", "beta__greet"]
    assert server["created_at"] == created["created_at"]
    assert (await api.get(f"/servers/{created['id']}")).json() == server


async def test_patch_can_empty_a_list(api, gateways):
    created = (await _create(api, "s", tools=["alpha__echo"], gateways=["beta"])).json()

    server = (await api.patch(f"/servers/{created['id']}", json={"gateways": []})).json()

    assert [t["name"] for t in server["tools"]] == ["alpha__echo"]
    assert server["resources"] == []


async def test_patch_to_a_taken_name_or_unknown_server_is_refused(api, gateways):
    await _create(api, "taken", tools=["alpha__echo"])
    other = (await _create(api, "other", tools=["alpha__echo"])).json()

    renamed = await api.patch(f"/servers/{other['id']}", json={"name": "taken"})
    missing = await api.patch("/servers/nope", json={"name": "x"})

    assert renamed.status_code == 409
    assert renamed.json()["detail"] == "a server named 'taken' already exists"
    assert missing.status_code == 404
    assert (await api.get(f"/servers/{other['id']}")).json()["name"] == "other"


async def test_a_refused_patch_leaves_the_server_as_it_was(api, gateways):
    created = (await _create(api, "s", tools=["alpha__echo"])).json()

    response = await api.patch(
        f"/servers/{created['id']}", json={"tools": ["beta__echo"], "prompts": ["nope"]}
    )

    assert response.status_code == 400
    assert (await api.get(f"/servers/{created['id']}")).json() == created


async def test_the_server_list_counts_what_each_server_exposes(api, gateways):
    await _create(api, "one-tool", tools=["alpha__echo"])
    await _create(api, "whole-beta", gateways=["beta"], prompts=["alpha__greet"])
    await _create(api, "readmes", resources=["memo://alpha/readme", "memo://beta/readme"])

    listed = {s["name"]: s for s in (await api.get("/servers")).json()["items"]}

    counts = {
        name: (s["tool_count"], s["resource_count"], s["resource_template_count"], s["prompt_count"])
        for name, s in listed.items()
    }
    assert counts == {"one-tool": (1, 0, 0, 0), "whole-beta": (3, 1, 1, 2), "readmes": (0, 2, 0, 0)}
