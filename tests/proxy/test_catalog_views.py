"""What each caller sees of one cached catalog and may do with it: lists filtered by the
entries' visibility, hidden entries answered as unknown, visible but forbidden ones
refused naming the permission, and the filtered lists memoized per catalog and access."""

from __future__ import annotations

import orjson
import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import NotFound, PermissionDenied
from switchboard_core.policy import BUILTIN_ROLES, Membership
from switchboard_core.principals import Principal
from switchboard_mcp import jsonrpc
from switchboard_proxy import catalog_views
from switchboard_proxy.catalog import UNSHARED, Catalog, render
from switchboard_proxy.catalog_views import Hidden, check_server, require, sees, view_of
from switchboard_proxy.dispatch import CallContext, Dispatcher

TEAM, OTHER_TEAM = "team-a", "team-b"
OWNER, SOMEONE = "u-owner", "u-someone"


def member(user_id: str, role: str, team: str = TEAM, permissions: frozenset[str] | None = None) -> Principal:
    granted = BUILTIN_ROLES[role] if permissions is None else permissions
    return Principal(
        user_id, f"{user_id}@example.com", False, (team,), "t", 2**40,
        memberships=(Membership(team, role, granted),),
    )  # fmt: skip


ADMIN = Principal("u-admin", "admin@example.com", True, (), "t", 2**40)
OUTSIDER = Principal("u-out", "out@example.com", False, (OTHER_TEAM,), "t", 2**40)


def access(visibility: str, owner: str = OWNER, team: str = TEAM) -> registry_pb2.Access:
    return registry_pb2.Access(owner_id=owner, team_id=team, visibility=visibility)


def catalog(server: registry_pb2.Access | None = None) -> Catalog:
    """One upstream serving a tool, prompt, resource and template of each visibility; a
    second one, down, whose team tool and prompt are held back."""
    reply = registry_pb2.Catalog(
        server_id="srv",
        upstreams=[
            registry_pb2.Upstream(gateway_id="g", name="up", url="http://up", capabilities_json=b"{}")
        ],
        held_tools={"down-tool": registry_pb2.HeldBack(gateway_name="down", access=access("team"))},
        held_prompts={"down-prompt": registry_pb2.HeldBack(gateway_name="down", access=access("team"))},
    )
    for visibility in ("private", "team", "public"):
        reply.tools.append(
            registry_pb2.ToolBinding(
                name=f"{visibility}-tool",
                upstream_name=f"{visibility}-tool",
                gateway_id="g",
                definition_json=orjson.dumps({"description": visibility}),
                access=access(visibility),
            )
        )
        reply.prompts.append(
            registry_pb2.PromptBinding(
                name=f"{visibility}-prompt", upstream_name="p", gateway_id="g", access=access(visibility)
            )
        )
        reply.resources.append(
            registry_pb2.ResourceBinding(
                uri=f"test://{visibility}",
                gateway_id="g",
                definition_json=orjson.dumps({"uri": f"test://{visibility}"}),
                access=access(visibility),
            )
        )
        reply.resource_templates.append(
            registry_pb2.ResourceBinding(
                uri=f"tmpl://{visibility}/{{id}}",
                gateway_id="g",
                definition_json=orjson.dumps({"uriTemplate": f"tmpl://{visibility}/{{id}}"}),
                access=access(visibility),
            )
        )
    if server is not None:
        reply.server_access.CopyFrom(server)
    return render(reply)


def names(entries: list[dict], key: str = "name") -> list[str]:
    return [e[key] for e in entries]


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (ADMIN, ["private-tool", "team-tool", "public-tool"]),
        (member(OWNER, "developer"), ["private-tool", "team-tool", "public-tool"]),
        (member(SOMEONE, "developer"), ["team-tool", "public-tool"]),
        (member(SOMEONE, "viewer"), ["team-tool", "public-tool"]),
        (member(SOMEONE, "custom", permissions=frozenset({"prompts.read"})), ["public-tool"]),
        (OUTSIDER, ["public-tool"]),
    ],
)
def test_a_caller_lists_only_the_tools_it_may_read(principal: Principal, expected: list[str]) -> None:
    assert names(view_of(catalog(), principal).tools) == expected


def test_resources_templates_and_prompts_are_filtered_alike() -> None:
    view = view_of(catalog(), member(SOMEONE, "viewer"))
    assert names(view.prompts) == ["team-prompt", "public-prompt"]
    assert names(view.resources, "uri") == ["test://team", "test://public"]
    assert names(view.templates, "uriTemplate") == ["tmpl://team/{id}", "tmpl://public/{id}"]


def test_a_role_without_a_read_permission_sees_only_the_public_entries_of_that_kind() -> None:
    # A custom role reading tools only: the team's prompts and resources stay hidden.
    view = view_of(catalog(), member(SOMEONE, "custom", permissions=frozenset({"tools.read"})))
    assert names(view.tools) == ["team-tool", "public-tool"]
    assert names(view.prompts) == ["public-prompt"]
    assert names(view.resources, "uri") == ["test://public"]


def test_the_token_scopes_do_not_change_what_the_user_sees() -> None:
    scoped = Principal(
        SOMEONE, "s@example.com", False, (TEAM,), "t", 2**40, scopes=("servers.use", "tools.execute"),
        memberships=(Membership(TEAM, "developer", BUILTIN_ROLES["developer"]),),
    )  # fmt: skip
    assert names(view_of(catalog(), scoped).tools) == ["team-tool", "public-tool"]


def test_a_view_is_computed_once_per_catalog_and_access() -> None:
    shared = catalog()
    developer = member(SOMEONE, "developer")
    first = view_of(shared, developer)
    misses = COUNTERS.get("cache.views.misses")
    # Another token of the same user and roles: the same principal fields, the same view.
    again = view_of(shared, member(SOMEONE, "developer"))
    assert again is first
    assert COUNTERS.get("cache.views.misses") == misses
    view_of(shared, member(OWNER, "developer"))
    assert COUNTERS.get("cache.views.misses") == misses + 1
    # A new catalog (a registry change) starts with no views.
    assert view_of(catalog(), developer) is not first


def test_the_views_kept_per_catalog_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_views, "MAX_VIEWS", 3)
    shared = catalog()
    for n in range(5):
        view_of(shared, member(f"u{n}", "viewer"))
    assert len(shared.views) == 3
    assert [key[0] for key in shared.views] == ["u2", "u3", "u4"]


def test_a_tool_the_caller_may_not_see_is_hidden_and_one_it_sees_names_the_missing_permission() -> None:
    tools = catalog().tools_by_name
    viewer = member(SOMEONE, "viewer")
    with pytest.raises(Hidden):
        require(viewer, "tools.execute", tools["private-tool"].access, "tool 'private-tool'")
    with pytest.raises(PermissionDenied) as refused:
        require(viewer, "tools.execute", tools["team-tool"].access, "tool 'team-tool'")
    assert refused.value.data == {"permission": "tools.execute"}
    assert "tools.execute" in refused.value.message
    require(viewer, "tools.execute", tools["public-tool"].access, "tool 'public-tool'")
    require(member(SOMEONE, "developer"), "tools.execute", tools["team-tool"].access, "tool")
    require(member(OWNER, "developer"), "tools.execute", tools["private-tool"].access, "tool")


def test_an_entity_the_registry_sent_no_access_for_is_shown_to_administrators_only() -> None:
    reply = registry_pb2.Catalog(server_id="", tools=[registry_pb2.ToolBinding(name="t", gateway_id="g")])
    rendered = render(reply)
    assert rendered.tools_by_name["t"].access == UNSHARED
    assert rendered.server_access is None  # the catalog of every tool: no server to check
    assert names(view_of(rendered, OUTSIDER).tools) == []
    assert names(view_of(rendered, member(SOMEONE, "team_admin")).tools) == []
    assert names(view_of(rendered, ADMIN).tools) == ["t"]
    check_server(OUTSIDER, rendered)


def test_a_server_the_registry_sent_no_access_for_is_unknown_to_all_but_administrators() -> None:
    rendered = render(registry_pb2.Catalog(server_id="s1"))
    assert rendered.server_access == UNSHARED
    with pytest.raises(NotFound):
        check_server(member(SOMEONE, "developer"), rendered)
    check_server(ADMIN, rendered)


@pytest.mark.parametrize(
    ("principal", "outcome"),
    [
        (ADMIN, None),
        (member(SOMEONE, "viewer"), None),
        (member(SOMEONE, "custom", permissions=frozenset({"servers.read"})), PermissionDenied),
        (OUTSIDER, NotFound),
        (member(SOMEONE, "developer", team=OTHER_TEAM), NotFound),
    ],
)
def test_a_server_is_unknown_to_who_may_not_see_it_and_forbidden_to_who_may_not_use_it(
    principal: Principal, outcome: type[Exception] | None
) -> None:
    team_server = catalog(server=access("team"))
    if outcome is None:
        check_server(principal, team_server)
        return
    with pytest.raises(outcome) as refused:
        check_server(principal, team_server)
    if outcome is NotFound:
        assert refused.value.message == "no server 'srv'"


def test_a_private_server_is_its_owners() -> None:
    private = catalog(server=access("private"))
    check_server(member(OWNER, "viewer"), private)
    with pytest.raises(NotFound):
        check_server(member(SOMEONE, "team_admin"), private)


# -- through the dispatcher (refusals are answered before any upstream is reached) ----


class _Catalogs:
    """The one catalog the dispatcher is given, standing for the registry's."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def get(self, server_id: str) -> Catalog:
        return self._catalog


def dispatcher(served: Catalog) -> Dispatcher:
    return Dispatcher(_Catalogs(served), upstreams=None, metrics=None, events=None)


async def ask(d: Dispatcher, principal: Principal, method: str, params: dict | None = None) -> dict:
    message = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or {}}
    return await d.handle(message, CallContext(principal, "srv", "2025-11-25"))


async def test_tools_list_shows_the_callers_view() -> None:
    answer = await ask(dispatcher(catalog()), OUTSIDER, "tools/list")
    assert names(answer["result"]["tools"]) == ["public-tool"]


async def test_calling_a_hidden_tool_is_answered_as_calling_an_unknown_one() -> None:
    d = dispatcher(catalog())
    hidden = await ask(d, OUTSIDER, "tools/call", {"name": "team-tool"})
    unknown = await ask(d, OUTSIDER, "tools/call", {"name": "no-such-tool"})
    assert hidden["error"]["code"] == unknown["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert hidden["error"]["message"] == "Unknown tool: team-tool"


async def test_calling_a_visible_tool_without_execute_names_the_permission() -> None:
    answer = await ask(dispatcher(catalog()), member(SOMEONE, "viewer"), "tools/call", {"name": "team-tool"})
    assert answer["error"]["code"] == -32003
    assert answer["error"]["data"] == {"permission": "tools.execute"}


async def test_hidden_prompts_and_resources_are_unknown() -> None:
    d = dispatcher(catalog())
    prompt = await ask(d, OUTSIDER, "prompts/get", {"name": "team-prompt"})
    assert prompt["error"]["message"] == "Unknown prompt: team-prompt"
    resource = await ask(d, OUTSIDER, "resources/read", {"uri": "test://team"})
    assert resource["error"]["message"] == "Resource not found: test://team"
    templated = await ask(d, OUTSIDER, "resources/read", {"uri": "tmpl://team/1"})
    assert templated["error"]["message"] == "Resource not found: tmpl://team/1"
    completion = await ask(
        d, OUTSIDER, "completion/complete", {"ref": {"type": "ref/prompt", "name": "private-prompt"}}
    )
    assert completion["error"]["message"] == "Unknown prompt: private-prompt"


async def test_a_held_back_item_is_unavailable_to_who_may_see_it_and_unknown_to_anyone_else() -> None:
    d = dispatcher(catalog())
    for method, kind in (("tools/call", "tool"), ("prompts/get", "prompt")):
        seen = await ask(d, member(SOMEONE, "viewer"), method, {"name": f"down-{kind}"})
        assert seen["error"]["code"] == -32011, seen  # UpstreamUnavailable
        assert f"{kind} 'down-{kind}' is unavailable: its upstream 'down' is down" == seen["error"]["message"]
        hidden = await ask(d, OUTSIDER, method, {"name": f"down-{kind}"})
        assert hidden["error"]["code"] == jsonrpc.INVALID_PARAMS
        assert hidden["error"]["message"] == f"Unknown {kind}: down-{kind}"


def two_gateways_offering_one_uri() -> Catalog:
    """`shared://readme` from gateway a (private to its owner), then from b (public)."""
    upstreams = [
        registry_pb2.Upstream(gateway_id=g, name=g, url=f"http://{g}", capabilities_json=b"{}") for g in "ab"
    ]
    reply = registry_pb2.Catalog(server_id="", upstreams=upstreams)
    for gateway, visibility in (("a", "private"), ("b", "public")):
        reply.resources.append(
            registry_pb2.ResourceBinding(
                uri="shared://readme",
                gateway_id=gateway,
                definition_json=orjson.dumps({"uri": "shared://readme", "description": gateway}),
                access=access(visibility),
            )
        )
    return render(reply)


@pytest.mark.parametrize(
    ("principal", "served_by"),
    [(member(OWNER, "developer"), "a"), (ADMIN, "a"), (OUTSIDER, "b"), (member(SOMEONE, "viewer"), "b")],
    ids=["owner-of-the-first", "admin", "outsider", "team-viewer"],
)
def test_a_uri_two_gateways_offer_is_served_from_the_first_the_caller_may_read(principal, served_by) -> None:
    rendered = two_gateways_offering_one_uri()
    listed = view_of(rendered, principal).resources
    assert [(r["uri"], r["description"]) for r in listed] == [("shared://readme", served_by)]
    binding = rendered.resource("shared://readme", lambda b: sees(principal, "resources.read", b.access))
    assert binding is not None and binding.gateway_id == served_by
    assert [b.gateway_id for b in rendered.offers("shared://readme")] == ["a", "b"]
