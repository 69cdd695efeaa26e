"""Who may use the registry's HTTP API, and how it describes itself."""

from __future__ import annotations

import pytest

AS_USER = {"authorization": "Bearer user-token"}  # a non-administrator (see conftest.TOKENS)
IN_ANOTHER_TEAM = [
    ("POST", "/gateways", {"name": "alpha", "url": "http://127.0.0.1:1/mcp", "team_id": "team-admin"}),
    ("POST", "/servers", {"name": "s", "tools": [], "team_id": "team-admin"}),
]
UNSEEN = [
    ("POST", "/gateways/any-id/refresh", None),
    ("POST", "/gateways/any-id/check", None),
    ("PATCH", "/gateways/any-id", {"visibility": "public"}),
    ("DELETE", "/gateways/any-id", None),
    ("PATCH", "/tools/any-id", {"visibility": "private"}),
    ("PATCH", "/prompts/any-id", {"visibility": "private"}),
    ("PATCH", "/resources/any-id", {"visibility": "private"}),
    ("PATCH", "/resource-templates/any-id", {"visibility": "private"}),
    ("PATCH", "/servers/any-id", {"name": "t"}),
    ("DELETE", "/servers/any-id", None),
]
READS = ["/gateways", "/tools", "/resources", "/resource-templates", "/prompts", "/servers"]


@pytest.mark.parametrize(("method", "path", "body"), IN_ANOTHER_TEAM)
async def test_creating_in_a_team_the_caller_has_no_role_in_is_forbidden(api, method, path, body):
    response = await api.request(method, path, json=body, headers=AS_USER)

    assert response.status_code == 403
    assert response.json() == {"error": "PermissionDenied", "detail": "not a member of the owning team"}


@pytest.mark.parametrize(("method", "path", "body"), UNSEEN)
async def test_changing_what_the_caller_cannot_see_is_not_found(api, method, path, body):
    response = await api.request(method, path, json=body, headers=AS_USER)

    assert response.status_code == 404, response.text


@pytest.mark.parametrize("path", READS)
async def test_any_authenticated_principal_may_read(api, path):
    response = await api.get(path, headers=AS_USER)

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize("path", READS)
async def test_a_request_without_a_token_is_unauthenticated(api, path):
    response = await api.get(path, headers={"authorization": ""})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_openapi_document_groups_routes_by_tag(api):
    document = (await api.get("/openapi.json")).json()

    tags = {op["tags"][0] for path in document["paths"].values() for op in path.values()}
    assert tags == {"gateways", "tools", "resources", "prompts", "servers"}
    schemas = document["components"]["schemas"]
    assert "inputSchema" in schemas["ToolOut"]["properties"]
    assert {"uri", "mimeType"} <= set(schemas["ResourceOut"]["properties"])
    assert "uriTemplate" in schemas["ResourceTemplateOut"]["properties"]
    assert {"mode", "separator", "renames"} <= set(schemas["NamingIn"]["properties"])
    assert "patch" in document["paths"]["/servers/{server_id}"]


async def test_nothing_is_routed_under_a_servers_own_path(registry_service):
    # `/servers/{id}/mcp` and anything else below a server belong to the MCP proxy.
    paths = [route.path for router in registry_service.routers() for route in router.routes]

    assert not [p for p in paths if p.startswith("/servers/{") and p.count("/") > 2]
