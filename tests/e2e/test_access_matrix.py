"""Who may see and do what, as real users of a real team: one table of roles ×
permissions × visibilities, each case asserted on every face that has the permission
(registry REST, MCP over `/servers/{id}/rpc` and Streamable HTTP, the proxy's gRPC face,
the metrics queries and rollups, the audit log) with the one expected outcome; and what
it costs on the hot path: a warm tools/call of a team member asks the auth service nothing.

Entities of each visibility belong to one team. `other` is private to another member
(the owner), `own` private to the subject itself (only roles that may create in the
team have one). A gateway's items take its visibility; each gateway is also exposed
whole by a public "window" server, so that what MCP shows of the items is decided by the
items alone (`servers.use` is its own row). Each entity's server has a call of its tool
recorded now (through the proxy) and one in the last closed hour (ingested as the proxy
would send it, and rolled up), so metrics show a row of it to whoever may see it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard.proxy.v1 import proxy_pb2, proxy_pb2_grpc
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.internal import INTERNAL_ENV, INTERNAL_METADATA
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.people import add_member, create_role, create_team, create_user, login
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import UpstreamProcess

AUTHENTICATE = "grpc.calls./switchboard.auth.v1.AuthService/Authenticate"
GET_CATALOG = "grpc.calls./switchboard.registry.v1.RegistryService/GetCatalog"
GET_ACCESS_INDEX = "grpc.calls./switchboard.registry.v1.RegistryService/GetAccessIndex"
HOT_CALLS = 20
HOUR_MS = 3600 * 1000

ROLES = ("platform_admin", "team_admin", "developer", "viewer", "custom", "outsider")
CUSTOM_PERMISSIONS = ["servers.read", "servers.use", "tools.read", "resources.read", "gateways.read"]
CREATORS = ("platform_admin", "team_admin", "developer")
VISIBILITIES = ("own", "other", "team", "public")
READS = ("tools.read", "resources.read", "prompts.read", "gateways.read", "servers.read")
CHANGES = tuple(
    f"{kind}.{verb}" for kind in ("gateways", "servers") for verb in ("create", "update", "delete")
)
PERMISSIONS = (*READS, "tools.execute", "servers.use", *CHANGES, "metrics.read", "audit.read")

EVERYWHERE = {"own", "other", "team", "public"}
IN_TEAM = {"own", "team", "public"}
SHARED = {"team", "public"}
PUBLIC = {"public"}
NOWHERE: set[str] = set()

# role -> permission -> the visibilities where it is allowed. Written out, not computed.
ALLOWED: dict[str, dict[str, set[str]]] = {
    "platform_admin": {p: EVERYWHERE for p in PERMISSIONS},
    # The audit log is read by platform administrators only, whatever it is about.
    "team_admin": {**{p: IN_TEAM for p in PERMISSIONS}, "audit.read": NOWHERE},
    "developer": {**{p: IN_TEAM for p in PERMISSIONS}, "audit.read": NOWHERE},
    "viewer": {
        **{p: SHARED for p in (*READS, "servers.use", "metrics.read")},
        "tools.execute": PUBLIC,
        **{p: NOWHERE for p in CHANGES},
        "audit.read": NOWHERE,
    },
    # A custom role reading tools and resources, seeing servers and gateways, using
    # servers: on what is public, anyone signed in may also call tools, read prompts and
    # read metrics.
    "custom": {
        **{p: SHARED for p in CUSTOM_PERMISSIONS},
        "tools.execute": PUBLIC,
        "prompts.read": PUBLIC,
        "metrics.read": PUBLIC,
        **{p: NOWHERE for p in CHANGES},
        "audit.read": NOWHERE,
    },
    "outsider": {
        **{p: PUBLIC for p in (*READS, "servers.use", "tools.execute", "metrics.read")},
        **{p: NOWHERE for p in CHANGES},
        "audit.read": NOWHERE,
    },
}


def applies(role: str, permission: str, visibility: str) -> bool:
    if visibility == "other" and permission.endswith(".create"):
        return False  # nobody creates what is private to someone else
    # Only who may create in the team has entities of its own (the others' creating is a row).
    return visibility != "own" or role in CREATORS or permission.endswith(".create")


CASES = [
    pytest.param(role, permission, visibility, id=f"{role}-{permission}-{visibility}")
    for role, permission, visibility in itertools.product(ROLES, PERMISSIONS, VISIBILITIES)
    if applies(role, permission, visibility)
]


@dataclass
class Exposed:
    """A gateway of one visibility, a server of the same, and the public window on the gateway."""

    gateway_id: str
    server_id: str
    window_id: str
    tool: str  # the echo tool's name in the window
    prompt: str


@dataclass
class World:
    gateway: GatewayProcess
    team_id: str
    upstream_url: str
    tokens: dict[str, str]
    owners: dict[str, str]  # role -> the role's user id
    entities: dict[tuple[str, str], Exposed]  # (visibility case, role for "own" else "") -> entities
    names: Iterator[int]

    def client(self, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.gateway.base_url,
            headers={"authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )

    def entity(self, role: str, visibility: str) -> Exposed:
        return self.entities[(visibility, role if visibility == "own" else "")]

    def creator_of(self, role: str, visibility: str) -> str:
        return role if visibility == "own" else "owner"

    def new_gateway(self, by: str, visibility: str) -> httpx.Response:
        with self.client(by) as client:
            n = next(self.names)
            return client.post(
                "/gateways",
                json={
                    # One gateway per URL: the query tells them apart (the upstream ignores it).
                    "name": f"mx{n}",
                    "url": f"{self.upstream_url}?gateway={n}",
                    "team_id": self.team_id,
                    "visibility": "private" if visibility in ("own", "other") else visibility,
                },
            )

    def new_server(self, by: str, visibility: str, gateways: list[str]) -> httpx.Response:
        with self.client(by) as client:
            return client.post(
                "/servers",
                json={
                    "name": f"mx-server-{next(self.names)}",
                    "gateways": gateways,
                    "team_id": self.team_id,
                    "visibility": "private" if visibility in ("own", "other") else visibility,
                },
            )


def _expose(world: World, by: str, visibility: str) -> Exposed:
    gateway = world.new_gateway(by, visibility)
    assert gateway.status_code == 201, gateway.text
    gateway_id = gateway.json()["id"]
    server = world.new_server(by, visibility, [gateway_id])
    assert server.status_code == 201, server.text
    window = world.new_server(by, "public", [gateway_id])
    assert window.status_code == 201, window.text
    tools = {t["upstream_name"]: t["name"] for t in window.json()["tools"]}
    prompts = {p["upstream_name"]: p["name"] for p in window.json()["prompts"]}
    return Exposed(gateway_id, server.json()["id"], window.json()["id"], tools["echo"], prompts["greet"])


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    # The tests' internal token lets the world send the metrics service a call of the
    # last hour, as the proxy would; rollup passes every second roll it up soon after.
    with start_gateway({**INTERNAL_ENV, "SWITCHBOARD_METRICS_ROLLUP_INTERVAL_S": "1"}) as process:
        yield process


@pytest.fixture(scope="module")
def world(admin: httpx.Client, gateway: GatewayProcess, fixture_upstream: UpstreamProcess) -> World:
    team_id = create_team(admin, "matrix-team")
    create_role(admin, "matrix-custom", CUSTOM_PERMISSIONS)
    memberships = {
        "owner": "developer",
        "team_admin": "team_admin",
        "developer": "developer",
        "viewer": "viewer",
        "custom": "matrix-custom",
    }
    tokens, owners = {}, {}
    for role in (*ROLES, "owner"):
        email = f"matrix-{role.replace('_', '-')}@example.com"
        owners[role] = create_user(admin, email, is_admin=role == "platform_admin")
        if role in memberships:
            add_member(admin, team_id, email, memberships[role])
        tokens[role] = login(admin, email)
    world = World(gateway, team_id, fixture_upstream.url, tokens, owners, {}, itertools.count())
    for visibility in ("other", "team", "public"):
        world.entities[(visibility, "")] = _expose(world, "owner", visibility)
    for role in CREATORS:
        world.entities[("own", role)] = _expose(world, role, "own")
    _record_calls(world, admin)
    return world


def _record_calls(world: World, admin: httpx.Client) -> None:
    """A call of each entity's tool through its server now, and one in the last closed
    hour; back once metrics, rollups and the audit log show each to an administrator."""
    last_hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS - HOUR_MS // 2
    past = []
    for e in world.entities.values():
        called = _rpc(
            world, "platform_admin", e.server_id, "tools/call", {"name": e.tool, "arguments": {"text": "m"}}
        )
        assert "result" in called.json(), called.text
        past.append(
            metrics_pb2.Invocation(
                tool=e.tool,
                server_id=e.server_id,
                gateway_id=e.gateway_id,
                duration_ms=5.0,
                success=True,
                started_at_ms=last_hour,
            )
        )
    with grpc.insecure_channel(f"127.0.0.1:{world.gateway.grpc_port}") as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        batch = metrics_pb2.InvocationBatch(invocations=past)
        assert stub.Ingest(iter([batch]), timeout=30, metadata=INTERNAL_METADATA).accepted == len(past)

    def shown(path: str, params: dict, key: str, tool: str) -> bool:
        response = admin.get(path, params=params)
        assert response.status_code == 200, response.text
        return tool in [row["tool"] for row in response.json()[key]]

    def everything_shown() -> bool:
        return all(
            shown("/metrics/tools", {"server_id": e.server_id, "since": 0}, "tools", e.tool)
            and shown("/metrics/rollups", {"server_id": e.server_id, "since": 0}, "items", e.tool)
            and admin.get("/auth/audit", params={"entity_type": "gateway", "entity_id": e.gateway_id}).json()
            for e in world.entities.values()
        )

    eventually(everything_shown, timeout_s=60, what="each call recorded and rolled up, each gateway audited")


# -- each face's answer to "may this role do this with that entity?" --------------------


def _ok(response: httpx.Response) -> bool:
    assert response.status_code in (200, 201, 204, 403, 404), response.text
    return response.status_code < 300


def _rpc(world: World, role: str, server_id: str, method: str, params: dict | None = None) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    with world.client(role) as client:
        return client.post(f"/servers/{server_id}/rpc", json=message)


def _listed(world: World, role: str, server_id: str, method: str, key: str, field: str, wanted: str) -> bool:
    response = _rpc(world, role, server_id, method)
    assert response.status_code == 200, response.text
    return wanted in [entry[field] for entry in response.json()["result"][key]]


def _rest_listed(world: World, role: str, path: str, gateway_id: str, field: str, wanted: str) -> bool:
    with world.client(role) as client:
        response = client.get(path, params={"gateway_id": gateway_id})
    if response.status_code == 404:  # the gateway itself is not to be seen
        return False
    assert response.status_code == 200, response.text
    return wanted in [item[field] for item in response.json()["items"]]


def _metered(response: httpx.Response, key: str, tool: str) -> bool:
    """Whether a metrics answer shows a row of `tool` (a server not to be seen: 404)."""
    assert response.status_code in (200, 403, 404), response.text
    return response.status_code == 200 and tool in [row["tool"] for row in response.json()[key]]


def _grpc(world: World, role: str, call: Callable) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{world.gateway.grpc_port}") as channel:
        stub = proxy_pb2_grpc.ProxyServiceStub(channel)
        try:
            call(stub, (("authorization", f"Bearer {world.tokens[role]}"),))
        except grpc.RpcError as exc:
            # Refused, or answered as for an unknown server or tool (one the caller may not see).
            unknown_tool = exc.code() == grpc.StatusCode.INVALID_ARGUMENT and exc.details().startswith(
                "Unknown tool"
            )
            assert unknown_tool or exc.code() in (
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.NOT_FOUND,
            ), exc
            return False
    return True


def _initialize(world: World, role: str, server_id: str) -> httpx.Response:
    client = McpHttp(f"{world.gateway.base_url}/servers/{server_id}/mcp", world.tokens[role])
    return client.post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
    )


def faces(world: World, role: str, permission: str, visibility: str) -> dict[str, bool]:
    """What each face answers, as allowed (True) or refused (False)."""
    if permission.endswith(".create"):
        kind = permission.split(".")[0]
        if kind == "gateways":
            return {"REST POST /gateways": _ok(world.new_gateway(role, visibility))}
        return {"REST POST /servers": _ok(world.new_server(role, visibility, []))}
    e = world.entity(role, visibility)
    with world.client(role) as client:
        match permission:
            case "tools.read":
                return {
                    "REST GET /tools": _rest_listed(
                        world, role, "/tools", e.gateway_id, "upstream_name", "echo"
                    ),
                    "MCP tools/list": _listed(
                        world, role, e.window_id, "tools/list", "tools", "name", e.tool
                    ),
                }
            case "resources.read":
                uri = "fixture://static"
                read = _rpc(world, role, e.window_id, "resources/read", {"uri": uri}).json()
                return {
                    "REST GET /resources": _rest_listed(world, role, "/resources", e.gateway_id, "uri", uri),
                    "MCP resources/list": _listed(
                        world, role, e.window_id, "resources/list", "resources", "uri", uri
                    ),
                    "MCP resources/read": "result" in read,
                }
            case "prompts.read":
                got = _rpc(
                    world, role, e.window_id, "prompts/get", {"name": e.prompt, "arguments": {"name": "x"}}
                )
                return {
                    "REST GET /prompts": _rest_listed(
                        world, role, "/prompts", e.gateway_id, "upstream_name", "greet"
                    ),
                    "MCP prompts/list": _listed(
                        world, role, e.window_id, "prompts/list", "prompts", "name", e.prompt
                    ),
                    "MCP prompts/get": "result" in got.json(),
                }
            case "tools.execute":
                called = _rpc(
                    world, role, e.window_id, "tools/call", {"name": e.tool, "arguments": {"text": "hi"}}
                )
                request = proxy_pb2.CallToolRequest(
                    server_id=e.window_id, name=e.tool, arguments_json=b'{"text":"hi"}'
                )
                return {
                    "MCP tools/call": "result" in called.json(),
                    "gRPC CallTool": _grpc(
                        world, role, lambda stub, auth: stub.CallTool(request, metadata=auth)
                    ),
                }
            case "servers.use":
                listing = proxy_pb2.ListToolsRequest(server_id=e.server_id)
                return {
                    "MCP /rpc ping": _ok(_rpc(world, role, e.server_id, "ping")),
                    "MCP initialize": _ok(_initialize(world, role, e.server_id)),
                    "gRPC ListTools": _grpc(
                        world, role, lambda stub, auth: stub.ListTools(listing, metadata=auth)
                    ),
                }
            case "servers.read":
                # MCP tells a server the caller may see (403 if it may not use it) from one it may not (404).
                return {
                    "REST GET /servers/{id}": _ok(client.get(f"/servers/{e.server_id}")),
                    "MCP not 404": _initialize(world, role, e.server_id).status_code != 404,
                }
            case "gateways.read":
                return {"REST GET /gateways/{id}": _ok(client.get(f"/gateways/{e.gateway_id}"))}
            case "metrics.read":
                server = {"server_id": e.server_id, "since": 0}
                summary = client.get("/metrics/summary", params=server)
                assert summary.status_code in (200, 403, 404), summary.text
                return {
                    "REST GET /metrics/tools": _metered(
                        client.get("/metrics/tools", params={"since": 0}), "tools", e.tool
                    ),
                    "REST GET /metrics/tools?server_id": _metered(
                        client.get("/metrics/tools", params=server), "tools", e.tool
                    ),
                    "REST GET /metrics/summary?server_id": summary.status_code == 200
                    and summary.json()["calls"] > 0,
                    "REST GET /metrics/rollups?server_id": _metered(
                        client.get("/metrics/rollups", params=server), "items", e.tool
                    ),
                    "REST GET /metrics/rollups?tool": _metered(
                        client.get("/metrics/rollups", params={"tool": e.tool, "since": 0}), "items", e.tool
                    ),
                }
            case "audit.read":
                rows = client.get("/auth/audit", params={"entity_type": "gateway", "entity_id": e.gateway_id})
                return {"REST GET /auth/audit": _ok(rows) and bool(rows.json())}
            case "gateways.update":
                current = "private" if visibility in ("own", "other") else visibility
                return {
                    "REST PATCH /gateways/{id}": _ok(
                        client.patch(f"/gateways/{e.gateway_id}", json={"visibility": current})
                    )
                }
            case "servers.update":
                return {
                    "REST PATCH /servers/{id}": _ok(
                        client.patch(f"/servers/{e.server_id}", json={"description": role})
                    )
                }
            case "gateways.delete":
                doomed = world.new_gateway(world.creator_of(role, visibility), visibility)
                assert doomed.status_code == 201, doomed.text
                return {"REST DELETE /gateways/{id}": _ok(client.delete(f"/gateways/{doomed.json()['id']}"))}
            case "servers.delete":
                doomed = world.new_server(world.creator_of(role, visibility), visibility, [])
                assert doomed.status_code == 201, doomed.text
                return {"REST DELETE /servers/{id}": _ok(client.delete(f"/servers/{doomed.json()['id']}"))}
    raise AssertionError(f"no face for {permission}")


@pytest.mark.parametrize(("role", "permission", "visibility"), CASES)
def test_access_matrix(world: World, role: str, permission: str, visibility: str) -> None:
    expected = visibility in ALLOWED[role][permission]
    answers = faces(world, role, permission, visibility)
    assert answers == dict.fromkeys(answers, expected), f"expected {'allowed' if expected else 'refused'}"


def test_the_table_names_every_role_and_permission() -> None:
    assert set(ALLOWED) == set(ROLES)
    assert all(set(row) == set(PERMISSIONS) for row in ALLOWED.values())


# -- the hot path --------------------------------------------------------------------


def counters(gateway: GatewayProcess) -> dict[str, int]:
    response = httpx.get(f"{gateway.base_url}/internal/counters")
    response.raise_for_status()
    return response.json()["counters"]


def test_a_warm_tools_call_of_a_team_member_asks_the_auth_service_nothing(world: World) -> None:
    team_tool = world.entity("developer", "team")
    client = McpHttp(f"{world.gateway.base_url}/servers/{team_tool.window_id}/mcp", world.tokens["developer"])
    client.initialize()
    for _ in range(3):  # warm: the principal, the catalog and the caller's view are cached
        assert client.call_tool(team_tool.tool, {"text": "warm"})["result"]["isError"] is False

    before = counters(world.gateway)
    for n in range(HOT_CALLS):
        reply = client.call_tool(team_tool.tool, {"text": f"hot {n}"})
        assert reply["result"]["content"][0]["text"] == f"hot {n}"
    after = counters(world.gateway)
    spent = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    assert spent.get(AUTHENTICATE, 0) == 0, spent
    assert spent.get(GET_CATALOG, 0) == 0, spent
    assert spent.get("cache.principals.misses", 0) == spent.get("cache.catalog.misses", 0) == 0, spent
    assert spent.get("cache.principals.hits", 0) == HOT_CALLS, spent


def test_metrics_follow_a_change_of_visibility_and_ask_the_registry_only_after_one(world: World) -> None:
    gateway = world.new_gateway("owner", "team")
    assert gateway.status_code == 201, gateway.text
    server = world.new_server("owner", "team", [gateway.json()["id"]])
    assert server.status_code == 201, server.text
    server_id = server.json()["id"]
    (tool,) = [t["name"] for t in server.json()["tools"] if t["upstream_name"] == "echo"]
    called = _rpc(
        world, "platform_admin", server_id, "tools/call", {"name": tool, "arguments": {"text": "x"}}
    )
    assert "result" in called.json(), called.text

    def viewers_answer() -> httpx.Response:
        with world.client("viewer") as client:
            return client.get("/metrics/tools", params={"server_id": server_id, "since": 0})

    eventually(lambda: _metered(viewers_answer(), "tools", tool), what="the call shown to a team viewer")
    before = counters(world.gateway)
    for _ in range(5):
        assert _metered(viewers_answer(), "tools", tool)
    assert counters(world.gateway).get(GET_ACCESS_INDEX, 0) == before.get(GET_ACCESS_INDEX, 0)

    with world.client("owner") as owner:
        assert owner.patch(f"/servers/{server_id}", json={"visibility": "private"}).status_code == 200
    eventually(
        lambda: viewers_answer().status_code == 404, what="the server hidden from the viewer's metrics"
    )
    with world.client("owner") as owner:
        shown = owner.get("/metrics/tools", params={"server_id": server_id, "since": 0})
    assert _metered(shown, "tools", tool)


def test_a_hidden_tool_is_unknown_and_a_visible_one_names_the_permission_it_lacks(world: World) -> None:
    team = world.entity("viewer", "team")
    hidden = _rpc(world, "outsider", team.window_id, "tools/call", {"name": team.tool}).json()["error"]
    unknown = _rpc(world, "outsider", team.window_id, "tools/call", {"name": "no__such"}).json()["error"]
    assert (hidden["code"], hidden["message"]) == (unknown["code"], f"Unknown tool: {team.tool}")
    refused = _rpc(world, "viewer", team.window_id, "tools/call", {"name": team.tool}).json()["error"]
    assert refused["code"] == -32003
    assert refused["data"] == {"permission": "tools.execute"}


def test_a_server_the_caller_may_not_see_is_as_unknown(world: World) -> None:
    team = world.entity("outsider", "team")
    assert _initialize(world, "outsider", team.server_id).status_code == 404
    assert _initialize(world, "outsider", "no-such-server").status_code == 404
    assert _rpc(world, "outsider", team.server_id, "ping").json()["error"]["message"] == (
        f"no server '{team.server_id}'"
    )


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/servers/{id}/mcp", {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}),
        ("GET", "/servers/{id}/sse", {"accept": "text/event-stream"}),
        ("POST", "/servers/{id}/rpc", {}),
    ],
)
def test_every_mcp_endpoint_of_a_hidden_server_answers_404_and_of_a_usable_one_does_not(
    world: World, method: str, path: str, headers: dict[str, str]
) -> None:
    team = world.entity("outsider", "team")
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for role, hidden in (("outsider", True), ("viewer", False)):
        with world.client(role) as client:
            if method == "GET":
                with client.stream("GET", path.format(id=team.server_id), headers=headers) as response:
                    status = response.status_code
            else:
                status = client.post(
                    path.format(id=team.server_id), json=message, headers=headers
                ).status_code
        assert (status == 404) is hidden, (role, status)
