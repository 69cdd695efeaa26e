"""Owners, teams and visibility through the registry's HTTP API, with real users from auth:
a team's viewer, developer and team administrator, an outsider, and the platform
administrator, over private, team and public gateways, servers and their items."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.policy import Target, decide
from switchboard_testing.auth_service import ADMIN_EMAIL, ADMIN_PASSWORD, Auth, AuthUser, bearer


@dataclass
class People:
    admin: AuthUser
    team_admin: AuthUser
    developer: AuthUser
    viewer: AuthUser
    outsider: AuthUser
    team: str  # team A: team_admin made it; developer and viewer hold those roles there


@pytest.fixture
async def people(auth: Auth) -> People:
    root = await auth.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_principal = await auth.principals.authenticate(root)
    admin = AuthUser(admin_principal.user_id, ADMIN_EMAIL, root, admin_principal.personal_team_id)
    team_admin = await auth.user(root, "lead@example.com")
    developer = await auth.user(root, "dev@example.com")
    viewer = await auth.user(root, "viewer@example.com")
    outsider = await auth.user(root, "outsider@example.com")
    team = await auth.team(team_admin, "team-a", [(developer, "developer"), (viewer, "viewer")])
    return People(admin, team_admin, developer, viewer, outsider, team)


async def register(api: httpx.AsyncClient, who: AuthUser, name: str, url: str, **access: str) -> dict:
    response = await api.post("/gateways", json={"name": name, "url": url, **access}, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def listed(api: httpx.AsyncClient, who: AuthUser, path: str) -> tuple[set[str], int]:
    page = (await api.get(path, headers=who.headers)).json()
    return {item["name"] for item in page["items"]}, page["total"]


async def test_a_new_gateway_belongs_to_its_maker_and_their_personal_team_seen_by_that_team_only(
    users_api, people, alpha
):
    made = await register(users_api, people.developer, "alpha", alpha.url)

    assert (made["owner_id"], made["team_id"], made["visibility"]) == (
        people.developer.id,
        people.developer.personal_team_id,
        "team",
    )
    assert {t["visibility"] for t in made["tools"]} == {"team"}
    for someone in (people.team_admin, people.viewer, people.outsider):
        assert await listed(users_api, someone, "/gateways") == (set(), 0)
        assert (await users_api.get(f"/gateways/{made['id']}", headers=someone.headers)).status_code == 404
    assert await listed(users_api, people.admin, "/gateways") == ({"alpha"}, 1)


async def test_a_team_gateway_is_seen_by_its_team_and_changed_by_its_roles_that_allow_it(
    users_api, people, alpha
):
    made = await register(users_api, people.developer, "alpha", alpha.url, team_id=people.team)
    url = f"/gateways/{made['id']}"

    for member in (people.viewer, people.developer, people.team_admin, people.admin):
        assert await listed(users_api, member, "/gateways") == ({"alpha"}, 1)
        assert (await users_api.get(url, headers=member.headers)).status_code == 200
    assert await listed(users_api, people.outsider, "/gateways") == (set(), 0)
    assert (await users_api.get(url, headers=people.outsider.headers)).status_code == 404
    assert (await users_api.delete(url, headers=people.outsider.headers)).status_code == 404

    refused = await users_api.patch(url, json={"visibility": "public"}, headers=people.viewer.headers)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "the role 'viewer' does not grant gateways.update"
    assert (await users_api.delete(url, headers=people.viewer.headers)).status_code == 403
    assert (await users_api.post(f"{url}/refresh", headers=people.viewer.headers)).status_code == 403

    assert (await users_api.post(f"{url}/refresh", headers=people.developer.headers)).status_code == 200
    assert (await users_api.delete(url, headers=people.team_admin.headers)).status_code == 204
    assert await listed(users_api, people.admin, "/gateways") == (set(), 0)


async def test_a_private_gateway_is_seen_by_its_owner_and_administrators_only(users_api, people, alpha):
    made = await register(
        users_api, people.developer, "alpha", alpha.url, team_id=people.team, visibility="private"
    )

    for someone in (people.team_admin, people.viewer, people.outsider):
        assert await listed(users_api, someone, "/gateways") == (set(), 0)
        assert await listed(users_api, someone, "/tools") == (set(), 0)
        assert (await users_api.get(f"/gateways/{made['id']}", headers=someone.headers)).status_code == 404
    for seer in (people.developer, people.admin):
        assert await listed(users_api, seer, "/gateways") == ({"alpha"}, 1)
        assert (await listed(users_api, seer, "/tools"))[1] == 3


async def test_a_public_gateway_is_seen_by_anyone_and_changed_only_by_its_team(users_api, people, alpha):
    made = await register(
        users_api, people.developer, "alpha", alpha.url, team_id=people.team, visibility="public"
    )
    url = f"/gateways/{made['id']}"

    assert await listed(users_api, people.outsider, "/gateways") == ({"alpha"}, 1)
    assert {
        t["upstream_name"]
        for t in (await users_api.get(url, headers=people.outsider.headers)).json()["tools"]
    } == {
        "echo",
        "add",
        "grow",
    }
    for change in (
        users_api.patch(url, json={"visibility": "private"}, headers=people.outsider.headers),
        users_api.delete(url, headers=people.outsider.headers),
        users_api.post(f"{url}/check", headers=people.outsider.headers),
    ):
        refused = await change
        assert refused.status_code == 403
        assert refused.json()["detail"] == "not a member of the owning team"


async def test_moving_a_gateway_carries_its_items_and_listings_count_only_what_is_seen(
    users_api, people, alpha, beta
):
    seen = await register(
        users_api, people.developer, "alpha", alpha.url, team_id=people.team, visibility="public"
    )
    await register(users_api, people.developer, "beta", beta.url, team_id=people.team)

    assert (await listed(users_api, people.outsider, "/tools?limit=1"))[1] == 3
    assert (await listed(users_api, people.viewer, "/tools?limit=1"))[1] == 6
    assert (await listed(users_api, people.outsider, "/prompts"))[0] == {"alpha__greet"}

    moved = await users_api.patch(
        f"/gateways/{seen['id']}", json={"visibility": "team"}, headers=people.developer.headers
    )
    assert moved.status_code == 200, moved.text
    assert {t["visibility"] for t in moved.json()["tools"]} == {"team"}
    assert await listed(users_api, people.outsider, "/tools") == (set(), 0)
    assert await listed(users_api, people.outsider, "/resources") == (set(), 0)

    # Into the developer's personal team: the team's viewer loses it, the developer keeps it.
    personal = await users_api.patch(
        f"/gateways/{seen['id']}",
        json={"team_id": people.developer.personal_team_id},
        headers=people.developer.headers,
    )
    assert personal.status_code == 200, personal.text
    assert {t["team_id"] for t in personal.json()["tools"]} == {people.developer.personal_team_id}
    assert (await listed(users_api, people.viewer, "/tools"))[1] == 3
    assert (await listed(users_api, people.developer, "/tools"))[1] == 6

    # Into a team the developer holds no role in: refused.
    elsewhere = await users_api.patch(
        f"/gateways/{seen['id']}",
        json={"team_id": people.outsider.personal_team_id},
        headers=people.developer.headers,
    )
    assert elsewhere.status_code == 403


async def test_one_tool_is_narrowed_but_never_made_more_visible_than_its_gateway(users_api, people, alpha):
    gateway = await register(users_api, people.developer, "alpha", alpha.url, team_id=people.team)
    echo = next(t for t in gateway["tools"] if t["upstream_name"] == "echo")

    wider = await users_api.patch(
        f"/tools/{echo['id']}", json={"visibility": "public"}, headers=people.developer.headers
    )
    assert wider.status_code == 422
    assert wider.json()["detail"] == "a tool cannot be more visible than its gateway 'alpha', which is 'team'"
    by_viewer = await users_api.patch(
        f"/tools/{echo['id']}", json={"visibility": "private"}, headers=people.viewer.headers
    )
    assert by_viewer.status_code == 403
    unknown = await users_api.patch(
        f"/tools/{echo['id']}", json={"visibility": "secret"}, headers=people.developer.headers
    )
    assert unknown.status_code == 422

    narrowed = await users_api.patch(
        f"/tools/{echo['id']}", json={"visibility": "private"}, headers=people.developer.headers
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["visibility"] == "private"
    assert (await listed(users_api, people.viewer, "/tools"))[0] == {"alpha__add", "alpha__grow"}
    detail = (await users_api.get(f"/gateways/{gateway['id']}", headers=people.viewer.headers)).json()
    assert {t["upstream_name"] for t in detail["tools"]} == {"add", "grow"}
    assert (await listed(users_api, people.developer, "/tools"))[1] == 3
    # Counts tell no more than the lists: the viewer's leave the private tool out.
    listing = (await users_api.get("/gateways", headers=people.viewer.headers)).json()["items"]
    assert [g["tool_count"] for g in listing] == [detail["tool_count"]] == [2]
    owners = (await users_api.get(f"/gateways/{gateway['id']}", headers=people.developer.headers)).json()
    assert owners["tool_count"] == 3


async def test_a_server_names_only_tools_its_maker_sees_and_is_seen_by_its_own_visibility(
    users_api, people, alpha, beta
):
    await register(users_api, people.developer, "alpha", alpha.url, team_id=people.team)
    await register(users_api, people.outsider, "beta", beta.url, visibility="public")

    refused = await users_api.post(
        "/servers",
        json={"name": "theirs", "tools": ["alpha__echo", "beta__add"]},
        headers=people.outsider.headers,
    )
    assert refused.status_code == 400
    assert refused.json()["data"] == {"unknown": ["alpha__echo"]}

    made = await users_api.post(
        "/servers",
        json={"name": "ours", "tools": ["alpha__echo", "beta__add"], "team_id": people.team},
        headers=people.developer.headers,
    )
    assert made.status_code == 201, made.text
    server = made.json()
    assert (server["owner_id"], server["team_id"], server["visibility"]) == (
        people.developer.id,
        people.team,
        "team",
    )
    url = f"/servers/{server['id']}"

    assert await listed(users_api, people.viewer, "/servers") == ({"ours"}, 1)
    assert await listed(users_api, people.outsider, "/servers") == (set(), 0)
    assert (await users_api.get(url, headers=people.outsider.headers)).status_code == 404
    assert (await users_api.patch(url, json={"name": "x"}, headers=people.viewer.headers)).status_code == 403

    public = await users_api.patch(url, json={"visibility": "public"}, headers=people.developer.headers)
    assert public.status_code == 200, public.text
    # The outsider sees the server, and of its tools only the one they may see.
    shown = (await users_api.get(url, headers=people.outsider.headers)).json()
    assert [t["name"] for t in shown["tools"]] == ["beta__add"]
    assert shown["tool_count"] == 1
    assert [
        x["tool_count"]
        for x in (await users_api.get("/servers", headers=people.outsider.headers)).json()["items"]
    ] == [1]
    assert (await users_api.get(url, headers=people.developer.headers)).json()["tool_count"] == 2
    assert shown["chosen"]["tools"] == [t["id"] for t in shown["tools"]]
    assert (await users_api.delete(url, headers=people.outsider.headers)).status_code == 403
    assert (await users_api.delete(url, headers=people.team_admin.headers)).status_code == 204


async def test_what_each_caller_lists_is_what_decide_lets_them_read(
    users_api, auth, people, alpha, beta, not_mcp
):
    await register(users_api, people.developer, "alpha", alpha.url, team_id=people.team, visibility="private")
    await register(users_api, people.developer, "beta", beta.url, team_id=people.team)
    await register(users_api, people.viewer, "mine", f"{not_mcp}/tools-only", visibility="public")
    await register(users_api, people.outsider, "theirs", f"{not_mcp}/scripted", visibility="team")
    everything = (await users_api.get("/gateways", headers=people.admin.headers)).json()["items"]
    assert len(everything) == 4

    for someone in (people.admin, people.team_admin, people.developer, people.viewer, people.outsider):
        principal = await auth.principals.authenticate(someone.token)
        expected = {
            g["name"]
            for g in everything
            if decide(principal, "gateways.read", Target(g["team_id"], g["owner_id"], g["visibility"]))
        }
        assert await listed(users_api, someone, "/gateways") == (expected, len(expected)), someone.email


async def test_a_token_whose_scopes_leave_out_reading_is_refused_with_insufficient_scope(
    users_api, auth, people
):
    minted = await auth.http.post(
        "/auth/tokens",
        json={"name": "tools only", "scopes": ["tools.read"]},
        headers=people.developer.headers,
    )
    assert minted.status_code == 201, minted.text
    headers = bearer(minted.json()["access_token"])

    refused = await users_api.get("/gateways", headers=headers)
    allowed = await users_api.get("/tools", headers=headers)

    assert refused.status_code == 403
    assert refused.json()["data"] == {"scope": "gateways.read"}
    assert 'error="insufficient_scope", scope="gateways.read"' in refused.headers["www-authenticate"]
    assert allowed.status_code == 200


async def test_the_catalog_carries_the_server_access_and_each_bindings(
    users_api, registry_stub, people, alpha
):
    gateway = await register(
        users_api, people.developer, "alpha", alpha.url, team_id=people.team, visibility="public"
    )
    echo = next(t for t in gateway["tools"] if t["upstream_name"] == "echo")
    await users_api.patch(
        f"/tools/{echo['id']}", json={"visibility": "private"}, headers=people.developer.headers
    )
    server = await users_api.post(
        "/servers",
        json={"name": "s", "gateways": ["alpha"], "team_id": people.team},
        headers=people.developer.headers,
    )

    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest(server_id=server.json()["id"]))

    def access(a: registry_pb2.Access) -> tuple[str, str, str]:
        return a.owner_id, a.team_id, a.visibility

    assert access(catalog.server_access) == (people.developer.id, people.team, "team")
    assert {t.upstream_name: access(t.access) for t in catalog.tools} == {
        "echo": (people.developer.id, people.team, "private"),
        "add": (people.developer.id, people.team, "public"),
        "grow": (people.developer.id, people.team, "public"),
    }
    assert {access(r.access) for r in catalog.resources} == {(people.developer.id, people.team, "public")}
    assert {access(p.access) for p in catalog.prompts} == {(people.developer.id, people.team, "public")}
