"""MCP authorization as the spec words it: RFC 9728 metadata for every MCP endpoint,
401 challenges pointing at it, tokens only in the Authorization header and never
forwarded upstream, and scoped tokens (scopes, servers, client networks) enforced
with 403s that name what is missing."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import jwt
import pytest
from switchboard.proxy.v1 import proxy_pb2, proxy_pb2_grpc
from switchboard_core.policy import PERMISSIONS
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess

WELL_KNOWN = "/.well-known/oauth-protected-resource"
AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"


@pytest.fixture(scope="module")
def servers(admin: httpx.Client, fixture_upstream: UpstreamProcess) -> dict[str, str]:
    register(admin, "authz", fixture_upstream.url)
    return {
        "one": create_server(admin, "authz-one", ["authz__echo", "authz__headers"]),
        "two": create_server(admin, "authz-two", ["authz__add"]),
    }


def mint(admin: httpx.Client, **limits) -> str:
    response = admin.post("/auth/tokens", json={"name": "authz-test", **limits})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def challenge_url(gateway: GatewayProcess, path: str) -> str:
    return f'resource_metadata="{gateway.base_url}{WELL_KNOWN}{path}"'


# -- protected-resource metadata -------------------------------------------------------


def test_the_root_metadata_describes_the_gateway_without_authentication(gateway: GatewayProcess) -> None:
    response = httpx.get(gateway.base_url + WELL_KNOWN)
    assert response.status_code == 200
    assert response.json() | {"resource_name": None} == {
        "resource": gateway.base_url,
        "authorization_servers": [gateway.base_url],
        "scopes_supported": list(PERMISSIONS),
        "bearer_methods_supported": ["header"],
        "resource_name": None,
    }
    assert response.headers["cache-control"].startswith("public, max-age=")


@pytest.mark.parametrize("path", ["/mcp", "/servers/some-id/mcp", "/sse", "/rpc", "/servers/x/rpc"])
def test_each_mcp_endpoint_has_metadata_naming_it_as_the_resource(gateway: GatewayProcess, path: str) -> None:
    response = httpx.get(f"{gateway.base_url}{WELL_KNOWN}{path}")
    assert response.status_code == 200
    assert response.json()["resource"] == gateway.base_url + path
    assert response.json()["scopes_supported"] == list(PERMISSIONS)


def test_metadata_of_a_path_that_is_no_mcp_endpoint_is_404(gateway: GatewayProcess) -> None:
    assert httpx.get(f"{gateway.base_url}{WELL_KNOWN}/gateways").status_code == 404


# -- authorization-server metadata -----------------------------------------------------


def test_the_authorization_server_the_resource_names_serves_its_metadata(gateway: GatewayProcess) -> None:
    (issuer,) = httpx.get(gateway.base_url + WELL_KNOWN).json()["authorization_servers"]
    response = httpx.get(issuer + AS_WELL_KNOWN)
    assert response.status_code == 200
    metadata = response.json()
    # RFC 8414 §3.3: the issuer is the one the well-known path was put after.
    assert metadata["issuer"] == issuer
    assert metadata["scopes_supported"] == list(PERMISSIONS)
    # No OAuth flow is offered: no endpoints for one, and it says so.
    assert metadata["response_types_supported"] == [] and "token_endpoint" not in metadata
    assert response.headers["cache-control"].startswith("public, max-age=")
    jwks = httpx.get(metadata["jwks_uri"])
    assert jwks.status_code == 200
    token_kid = jwt.get_unverified_header(gateway.mint_token())["kid"]
    assert token_kid in {key["kid"] for key in jwks.json()["keys"]}


def test_with_a_public_url_issuer_audience_and_metadata_agree_on_it() -> None:
    public = "https://gateway.example.com"
    with start_gateway({"SWITCHBOARD_PUBLIC_URL": public}) as gateway:
        resource = httpx.get(gateway.base_url + WELL_KNOWN).json()
        metadata = httpx.get(gateway.base_url + AS_WELL_KNOWN).json()
        claims = jwt.decode(gateway.mint_token(), options={"verify_signature": False})
    assert resource["authorization_servers"] == [public] == [metadata["issuer"]]
    assert metadata["jwks_uri"] == public + "/auth/jwks.json"
    assert claims["iss"] == public and claims["aud"] == resource["resource"] == public


# -- challenges ------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/mcp"),
    ("POST", "/servers/{one}/mcp"),
    ("GET", "/mcp"),
    ("GET", "/sse"),
    ("GET", "/servers/{one}/sse"),
    ("POST", "/message?session_id=x"),
    ("POST", "/rpc"),
    ("POST", "/servers/{one}/rpc"),
]
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_request_without_a_token_is_challenged_with_its_endpoints_metadata(
    gateway: GatewayProcess, servers: dict[str, str], method: str, path: str
) -> None:
    path = path.format(**servers)
    response = httpx.request(method, gateway.base_url + path, json=PING)
    assert response.status_code == 401
    endpoint = path.split("?")[0]
    assert response.headers["www-authenticate"] == f"Bearer {challenge_url(gateway, endpoint)}"
    # The URL it names answers, and names this endpoint.
    metadata = httpx.get(f"{gateway.base_url}{WELL_KNOWN}{endpoint}").json()
    assert metadata["resource"] == gateway.base_url + endpoint


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_refused_token_is_challenged_with_invalid_token(
    gateway: GatewayProcess, servers: dict[str, str], method: str, path: str
) -> None:
    path = path.format(**servers)
    response = httpx.request(
        method, gateway.base_url + path, json=PING, headers={"authorization": "Bearer not-a-token"}
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    assert challenge_url(gateway, path.split("?")[0]) in challenge


# -- tokens only in the header, never upstream -----------------------------------------


@pytest.mark.parametrize("parameter", ["access_token", "token", "api_key"])
@pytest.mark.parametrize("path", ["/mcp", "/sse", "/rpc"])
def test_a_token_in_the_query_string_is_refused_and_never_used(
    gateway: GatewayProcess, admin_token: str, path: str, parameter: str
) -> None:
    method = "GET" if path == "/sse" else "POST"
    alone = httpx.request(method, f"{gateway.base_url}{path}?{parameter}={admin_token}", json=PING)
    assert alone.status_code == 400
    assert 'error="invalid_request"' in alone.headers["www-authenticate"]
    # Even next to a good header the request is refused: a URL leaks into logs.
    with_header = httpx.request(
        method,
        f"{gateway.base_url}{path}?{parameter}={admin_token}",
        json=PING,
        headers={"authorization": f"Bearer {admin_token}"},
    )
    assert with_header.status_code == 400


def test_the_clients_token_never_reaches_the_upstream(
    gateway: GatewayProcess, servers: dict[str, str], admin_token: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/servers/{servers['one']}/mcp", admin_token)
    client.initialize()
    answer = client.call_tool("authz__headers")
    assert "error" not in answer, answer
    received = answer["result"]["structuredContent"]
    received = received.get("result", received)
    assert "host" in received, answer  # the upstream did report the headers it got
    assert "authorization" not in received
    assert all(admin_token not in value for value in received.values())


# -- scoped tokens ---------------------------------------------------------------------


def test_a_call_outside_the_tokens_scopes_is_403_insufficient_scope_naming_it(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    token = mint(admin, scopes=["servers.use", "tools.read"])
    path = f"/servers/{servers['one']}/mcp"
    client = McpHttp(gateway.base_url + path, token)
    client.initialize()
    assert "authz__echo" in {t["name"] for t in client.request("tools/list")["result"]["tools"]}

    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "authz__echo"}}
    response = client.post(call)
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="tools.execute", {challenge_url(gateway, path)}'
    )
    error = response.json()["error"]
    assert response.json()["id"] == 7
    assert "tools.execute" in error["message"] and error["data"] == {"scope": "tools.execute"}


def test_the_same_scopes_hold_on_plain_rpc(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    token = mint(admin, scopes=["servers.use", "prompts.read"])
    url = f"{gateway.base_url}/servers/{servers['one']}/rpc"
    auth = {"authorization": f"Bearer {token}"}
    listing = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=auth)
    assert listing.status_code == 403
    assert 'scope="tools.read"' in listing.headers["www-authenticate"]
    batch = [PING, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "authz__echo"}}]
    assert httpx.post(url, json=batch, headers=auth).status_code == 403
    assert httpx.post(url, json=PING, headers=auth).status_code == 200


def test_a_token_without_servers_use_cannot_connect_at_all(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    token = mint(admin, scopes=["tools.read", "tools.execute"])
    response = McpHttp(f"{gateway.base_url}/servers/{servers['one']}/mcp", token).post(PING)
    assert response.status_code == 403
    assert 'error="insufficient_scope", scope="servers.use"' in response.headers["www-authenticate"]


def test_a_legacy_sse_post_outside_the_scopes_is_refused_on_the_post(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    token = mint(admin, scopes=["servers.use", "tools.read"])
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway.base_url, headers=auth, timeout=30) as http:
        with http.stream("GET", f"/servers/{servers['one']}/sse") as stream:
            lines = stream.iter_lines()
            endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
            call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "authz__echo"}}
            refused = http.post(endpoint, json=call)
            assert refused.status_code == 403
            assert 'scope="tools.execute"' in refused.headers["www-authenticate"]
            assert http.post(endpoint, json={**PING, "id": 4}).status_code == 202


def test_a_token_limited_to_servers_reaches_only_those(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    token = mint(admin, servers=[servers["one"]])
    allowed = McpHttp(f"{gateway.base_url}/servers/{servers['one']}/mcp", token)
    assert allowed.initialize()["serverInfo"]["name"] == "switchboard"
    for path in (f"/servers/{servers['two']}/mcp", "/mcp", f"/servers/{servers['two']}/rpc", "/sse"):
        response = httpx.request(
            "GET" if path == "/sse" else "POST",
            gateway.base_url + path,
            json=PING,
            headers={"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"},
        )
        assert response.status_code == 403, path
        assert "www-authenticate" not in response.headers  # no scope would help


@pytest.fixture
def from_ten(admin: httpx.Client) -> Iterator[str]:
    yield mint(admin, cidrs=["10.0.0.0/8"])


def test_a_token_limited_to_networks_is_refused_from_elsewhere(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client, from_ten: str
) -> None:
    url = f"{gateway.base_url}/servers/{servers['one']}/rpc"
    refused = httpx.post(url, json=PING, headers={"authorization": f"Bearer {from_ten}"})
    assert refused.status_code == 403
    assert "address" in refused.json()["error"]["message"]
    # The gateway trusts no proxy by default: a claimed address changes nothing.
    spoofed = httpx.post(
        url, json=PING, headers={"authorization": f"Bearer {from_ten}", "x-forwarded-for": "10.1.2.3"}
    )
    assert spoofed.status_code == 403
    local = mint(admin, cidrs=["127.0.0.0/8", "::1/128"])
    assert httpx.post(url, json=PING, headers={"authorization": f"Bearer {local}"}).status_code == 200


async def test_the_grpc_face_holds_tokens_to_the_same_limits(
    gateway: GatewayProcess, servers: dict[str, str], admin: httpx.Client
) -> None:
    reader = mint(admin, scopes=["servers.use", "tools.read"])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = proxy_pb2_grpc.ProxyServiceStub(channel)
        auth = (("authorization", f"Bearer {reader}"),)
        listed = await stub.ListTools(proxy_pb2.ListToolsRequest(server_id=servers["one"]), metadata=auth)
        assert listed.tools_json
        call = proxy_pb2.CallToolRequest(server_id=servers["one"], name="authz__echo", arguments_json=b"{}")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CallTool(call, metadata=auth)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "tools.execute" in refused.value.details()
        elsewhere = mint(admin, servers=[servers["two"]])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListTools(
                proxy_pb2.ListToolsRequest(server_id=servers["one"]),
                metadata=(("authorization", f"Bearer {elsewhere}"),),
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
