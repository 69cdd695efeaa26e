"""The names a virtual server exposes: modes, separators, renames, and clashes refused up front."""

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


def _names(server: dict, kind: str = "tools") -> list[str]:
    return [item["name"] for item in server[kind]]


async def test_the_default_naming_prefixes_with_the_gateway_and_two_underscores(api, gateways):
    server = (await _create(api, "default", gateways=["alpha"])).json()

    assert server["naming"] == {"mode": "prefix", "separator": "__", "renames": {}}
    assert server["bare_names"] is False
    assert _names(server) == ["alpha__add", "alpha__echo", "alpha__grow"]
    assert _names(server, "prompts") == ["alpha__greet"]


@pytest.mark.parametrize("separator", ["_", ".", "-", "--", "a.b-_"])
async def test_a_chosen_separator_joins_gateway_and_name(api, gateways, separator):
    response = await _create(
        api, "sep", tools=["alpha__echo"], prompts=["beta__greet"], naming={"separator": separator}
    )

    assert response.status_code == 201, response.text
    assert _names(response.json()) == [f"alpha{separator}echo"]
    assert _names(response.json(), "prompts") == [f"beta{separator}greet"]


@pytest.mark.parametrize("separator", ["", "six666", "a b", "::", "/", "é"])
async def test_separators_outside_the_allowed_characters_are_refused(api, gateways, separator):
    response = await _create(api, "sep", tools=["alpha__echo"], naming={"separator": separator})

    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"separator {separator!r} is invalid")


async def test_bare_mode_exposes_upstream_names(api, gateways):
    response = await _create(
        api, "bare", tools=["alpha__echo"], prompts=["beta__greet"], naming={"mode": "bare"}
    )

    server = response.json()
    assert (_names(server), _names(server, "prompts")) == (["echo"], ["greet"])
    assert server["bare_names"] is True


async def test_bare_names_is_shorthand_for_bare_mode_and_may_not_contradict_it(api, gateways):
    shorthand = await _create(api, "short", tools=["alpha__echo"], bare_names=True)
    agreeing = await _create(api, "agree", tools=["alpha__echo"], bare_names=True, naming={"mode": "bare"})
    contradicting = await _create(
        api, "odd", tools=["alpha__echo"], bare_names=True, naming={"mode": "prefix"}
    )

    assert shorthand.json()["naming"]["mode"] == "bare"
    assert agreeing.status_code == 201
    assert contradicting.status_code == 400
    assert "contradicts" in contradicting.json()["detail"]


async def test_renames_by_id_or_qualified_name_take_precedence(api, gateways):
    alpha_add = next(t["id"] for t in gateways["alpha"]["tools"] if t["upstream_name"] == "add")

    response = await _create(
        api,
        "renamed",
        gateways=["alpha"],
        naming={
            "mode": "bare",
            "renames": {"alpha__echo": "say", alpha_add: "plus", "alpha__greet": "hello"},
        },
    )

    assert response.status_code == 201, response.text
    server = response.json()
    assert _names(server) == ["plus", "say", "grow"]
    assert _names(server, "prompts") == ["hello"]
    assert server["naming"]["renames"] == {"alpha__echo": "say", alpha_add: "plus", "alpha__greet": "hello"}


async def test_renames_to_names_clients_could_not_use_are_refused(api, gateways):
    spaced = await _create(api, "a", tools=["alpha__echo"], naming={"renames": {"alpha__echo": "say it"}})
    too_long = await _create(api, "b", tools=["alpha__echo"], naming={"renames": {"alpha__echo": "x" * 65}})
    longest = await _create(api, "c", tools=["alpha__echo"], naming={"renames": {"alpha__echo": "x" * 64}})

    assert spaced.status_code == too_long.status_code == 400
    assert "renames to 'say it' are invalid" in spaced.json()["detail"]
    assert longest.status_code == 201
    assert _names(longest.json()) == ["x" * 64]


async def test_renames_of_things_the_server_does_not_expose_are_refused(api, gateways):
    response = await _create(api, "s", tools=["alpha__echo"], naming={"renames": {"beta__echo": "other"}})

    assert response.status_code == 400
    assert response.json()["data"] == {"unmatched_renames": ["beta__echo"]}


async def test_bare_tool_names_that_clash_are_refused_naming_both(api, gateways):
    response = await _create(api, "clash", gateways=["alpha", "beta"], naming={"mode": "bare"})

    assert response.status_code == 409
    body = response.json()
    assert "alpha__echo and beta__echo share the name 'echo'" in body["detail"]
    assert body["data"]["clashing"]["echo"] == ["alpha__echo", "beta__echo"]
    assert body["data"]["clashing_prompts"] == {"greet": ["alpha__greet", "beta__greet"]}
    assert (await api.get("/servers")).json()["total"] == 0


async def test_clashing_prompt_names_are_refused(api, gateways):
    response = await _create(api, "p", prompts=["alpha__greet", "beta__greet"], bare_names=True)

    assert response.status_code == 409
    assert (
        "exposed prompt names clash: alpha__greet and beta__greet share the name 'greet'"
        in (response.json()["detail"])
    )
    assert response.json()["data"] == {"clashing_prompts": {"greet": ["alpha__greet", "beta__greet"]}}


async def test_a_rename_onto_another_exposed_name_is_a_clash(api, gateways):
    response = await _create(
        api, "r", tools=["alpha__echo", "alpha__add"], naming={"renames": {"alpha__add": "alpha__echo"}}
    )

    assert response.status_code == 409
    assert response.json()["data"] == {"clashing": {"alpha__echo": ["alpha__echo", "alpha__add"]}}


async def test_a_rename_resolves_a_bare_clash(api, gateways):
    response = await _create(
        api,
        "fixed",
        tools=["alpha__echo", "beta__echo"],
        naming={"mode": "bare", "renames": {"beta__echo": "echo_beta"}},
    )

    assert response.status_code == 201, response.text
    assert _names(response.json()) == ["echo", "echo_beta"]


async def test_resources_whose_uris_clash_across_gateways_are_refused(api, gateways, growing_upstream):
    await growing_upstream.grow("memo://alpha/readme", "resource")
    await api.post("/gateways", json={"name": "grower", "url": growing_upstream.url})

    response = await _create(api, "same-uri", gateways=["alpha", "grower"], naming={"mode": "prefix"})

    assert response.status_code == 409
    body = response.json()
    assert "resource URIs clash" in body["detail"]
    assert list(body["data"]["clashing_resources"]) == ["memo://alpha/readme"]
    assert len(body["data"]["clashing_resources"]["memo://alpha/readme"]) == 2


async def test_an_update_that_would_clash_is_refused_and_changes_nothing(api, gateways):
    created = (await _create(api, "s", tools=["alpha__echo", "beta__echo"])).json()

    to_bare = await api.patch(f"/servers/{created['id']}", json={"bare_names": True})
    adding = await api.patch(
        f"/servers/{created['id']}", json={"naming": {"separator": "-"}, "gateways": ["alpha"]}
    )

    assert to_bare.status_code == 409
    assert "alpha__echo and beta__echo share the name 'echo'" in to_bare.json()["detail"]
    assert adding.status_code == 200
    assert _names(adding.json()) == ["alpha-echo", "beta-echo", "alpha-add", "alpha-grow"]
    assert adding.json()["naming"] == {"mode": "prefix", "separator": "-", "renames": {}}


async def test_an_update_of_one_naming_part_keeps_the_others(api, gateways):
    created = (
        await _create(
            api, "s", tools=["alpha__echo"], naming={"separator": ".", "renames": {"alpha__echo": "say"}}
        )
    ).json()

    server = (await api.patch(f"/servers/{created['id']}", json={"naming": {"mode": "bare"}})).json()

    assert server["naming"] == {"mode": "bare", "separator": ".", "renames": {"alpha__echo": "say"}}
    assert _names(server) == ["say"]


async def test_names_past_64_characters_are_refused_at_creation(api, growing_upstream):
    await growing_upstream.grow("t" * 60)
    await api.post("/gateways", json={"name": "gw", "url": growing_upstream.url})  # gw__ttt… is 64

    fits = await _create(api, "fits", tools=[f"gw__{'t' * 60}"])
    too_long = await _create(api, "long", tools=[f"gw__{'t' * 60}"], naming={"separator": "---"})

    assert fits.status_code == 201
    assert too_long.status_code == 400
    assert "names longer than 64 characters would be exposed" in too_long.json()["detail"]
    assert too_long.json()["data"] == {"too_long": [f"gw---{'t' * 60}"]}


class TestRefresh:
    """A refresh that would spoil a server including the gateway is refused, naming the server."""

    @pytest.fixture
    async def grower(self, api, gateways, growing_upstream) -> dict:
        response = await api.post("/gateways", json={"name": "grower", "url": growing_upstream.url})
        return response.json()

    async def _refresh(self, api, gateway: dict) -> httpx.Response:
        return await api.post(f"/gateways/{gateway['id']}/refresh")

    async def test_a_new_tool_clashing_in_a_server_is_refused_and_the_old_listing_stays(
        self, api, grower, growing_upstream, registry
    ):
        server = (
            await _create(
                api,
                "bundle",
                gateways=["grower"],
                tools=["alpha__echo"],
                naming={"mode": "bare", "renames": {"alpha__echo": "alpha_echo"}},
            )
        ).json()
        revision = await registry.changes.current()
        await growing_upstream.grow("alpha_echo")

        response = await self._refresh(api, grower)

        assert response.status_code == 409
        body = response.json()
        assert body["detail"].startswith(
            "could not refresh 'grower': in server 'bundle', exposed tool names clash"
        )
        assert "alpha__echo and grower__alpha_echo share the name 'alpha_echo'" in body["detail"]
        assert body["data"]["servers"]["bundle"]["id"] == server["id"]
        assert "grower__alpha_echo" not in [t["name"] for t in (await api.get("/tools")).json()["items"]]
        assert (await api.get(f"/servers/{server['id']}")).json() == server
        assert await registry.changes.current() == revision

    async def test_the_refresh_goes_through_once_the_server_is_changed(self, api, grower, growing_upstream):
        server = (
            await _create(
                api,
                "bundle",
                gateways=["grower"],
                tools=["alpha__echo"],
                naming={"mode": "bare", "renames": {"alpha__echo": "alpha_echo"}},
            )
        ).json()
        await growing_upstream.grow("alpha_echo")
        assert (await self._refresh(api, grower)).status_code == 409

        await api.patch(
            f"/servers/{server['id']}", json={"naming": {"renames": {"alpha__echo": "alpha_say"}}}
        )
        response = await self._refresh(api, grower)

        assert response.status_code == 200
        names = [t["name"] for t in (await api.get(f"/servers/{server['id']}")).json()["tools"]]
        assert {"alpha_say", "alpha_echo"} <= set(names)

    async def test_a_new_prompt_clashing_in_a_server_is_refused(self, api, grower, growing_upstream):
        await _create(
            api,
            "prompts",
            gateways=["grower"],
            prompts=["alpha__greet"],
            naming={"mode": "bare", "renames": {"alpha__greet": "hello"}},
        )
        await growing_upstream.grow("hello", "prompt")

        response = await self._refresh(api, grower)

        assert response.status_code == 409
        assert "in server 'prompts', exposed prompt names clash" in response.json()["detail"]
        assert response.json()["data"]["servers"]["prompts"]["clashing_prompts"] == {
            "hello": ["alpha__greet", "grower__hello"]
        }

    async def test_a_new_resource_whose_uri_clashes_in_a_server_is_refused(
        self, api, grower, growing_upstream
    ):
        await _create(api, "docs", gateways=["grower"], resources=["memo://alpha/readme"])
        await growing_upstream.grow("memo://alpha/readme", "resource")

        response = await self._refresh(api, grower)

        assert response.status_code == 409
        assert "in server 'docs', resource URIs clash" in response.json()["detail"]
        assert [r["uri"] for r in (await api.get(f"/gateways/{grower['id']}")).json()["resources"]] == [
            "memo://growing/readme"
        ]

    async def test_a_new_name_past_64_characters_in_a_server_is_refused(self, api, grower, growing_upstream):
        await _create(api, "wide", gateways=["grower"], naming={"separator": "-----"})
        await growing_upstream.grow("t" * 55)  # grower__ttt… is 62, grower-----ttt… is 66

        response = await self._refresh(api, grower)

        assert response.status_code == 409
        assert "in server 'wide', names longer than 64 characters" in response.json()["detail"]

    async def test_servers_not_including_the_gateway_do_not_hold_it_back(self, api, grower, growing_upstream):
        # Chosen one by one, a server only ever loses items on refresh.
        await _create(
            api,
            "picked",
            tools=["grower__echo", "alpha__echo"],
            naming={"mode": "bare", "renames": {"alpha__echo": "fresh"}},
        )
        await growing_upstream.grow("fresh")

        assert (await self._refresh(api, grower)).status_code == 200
