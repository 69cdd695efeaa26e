"""What every app `create_app` builds promises in its OpenAPI document, and keeps: the
bearer scheme on the routes that need a token, the statuses each route's shape implies
with the bodies really sent, strict bodies, one value per query parameter, and an `Allow`
header naming every method of a path."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Query
from starlette.responses import Response
from starlette.routing import Route
from switchboard_core.errors import NotFound, Unprocessable
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.contract import Body
from switchboard_core.http.deps import CurrentPrincipal


class Thing(Body):
    name: str
    shared: bool = False
    size: int | None = None


def _router() -> APIRouter:
    router = APIRouter(prefix="/things")

    @router.get("")
    async def list_things(limit: int = Query(default=10, ge=1)) -> list[str]:
        return []

    @router.post("", status_code=201)
    async def add_thing(body: Thing) -> Thing:
        if body.name == "refused":
            raise Unprocessable("well formed, not allowed")
        return body

    @router.get("/{thing_id}")
    async def get_thing(thing_id: str, who: CurrentPrincipal) -> dict:
        raise NotFound(f"no thing {thing_id!r}")

    @router.delete("/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str, who: CurrentPrincipal) -> Response:
        return Response(status_code=204)

    return router


async def _mcp(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _client() -> httpx.AsyncClient:
    raw = [Route("/mcp", _mcp, methods=["GET", "POST", "DELETE"])]
    app = create_app(title="contract", routers=[_router()], routes=raw)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=RawRoutesFirst(app, raw)), base_url="http://t")


async def test_options_answers_with_every_method_of_the_path_across_its_routes() -> None:
    async with _client() as client:
        things = await client.options("/things")
        one = await client.options("/things/abc")
        mcp = await client.options("/mcp")
        nowhere = await client.options("/nowhere")
    assert (things.status_code, things.headers["allow"]) == (204, "GET, OPTIONS, POST")
    assert (one.status_code, one.headers["allow"]) == (204, "DELETE, GET, OPTIONS")
    assert (mcp.status_code, mcp.headers["allow"]) == (204, "DELETE, GET, HEAD, OPTIONS, POST")
    assert nowhere.status_code == 404


async def test_a_method_the_path_lacks_is_405_naming_every_method_it_has() -> None:
    async with _client() as client:
        response = await client.put("/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, OPTIONS, POST"
    assert response.json() == {"error": "MethodNotAllowed", "detail": "Method Not Allowed"}


async def test_an_unknown_path_is_404_with_the_body_every_error_has() -> None:
    async with _client() as client:
        response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "Not Found"}


async def test_a_body_is_read_strictly_so_numbers_are_no_booleans_and_booleans_no_numbers() -> None:
    async with _client() as client:
        fine = await client.post("/things", json={"name": "a", "shared": True, "size": 3})
        refused = [
            await client.post("/things", json=body)
            for body in ({"name": "a", "shared": 0}, {"name": "a", "size": False}, {"name": "a", "size": 0.5})
        ]
    assert fine.status_code == 201
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert [r.json()["detail"][0]["loc"] for r in refused] == [
        ["body", "shared"],
        ["body", "size"],
        ["body", "size"],
    ]


async def test_a_query_parameter_given_twice_is_refused_rather_than_one_value_picked() -> None:
    async with _client() as client:
        once = await client.get("/things?limit=5")
        twice = await client.get("/things?limit=5&limit=500")
    assert once.status_code == 200
    assert twice.status_code == 422
    assert twice.json() == {
        "detail": [{"type": "repeated", "loc": ["query", "limit"], "msg": "given more than once"}]
    }


async def test_a_query_parameter_the_route_does_not_have_is_refused_rather_than_ignored() -> None:
    async with _client() as client:
        misspelt = await client.get("/things?limt=5&other=1&other=2")
    assert misspelt.status_code == 422
    assert misspelt.json() == {
        "detail": [
            {"type": "extra_forbidden", "loc": ["query", "limt"], "msg": "not a parameter of this route"},
            {"type": "extra_forbidden", "loc": ["query", "other"], "msg": "not a parameter of this route"},
        ]
    }


async def test_a_422_body_is_one_of_the_two_shapes_the_document_declares() -> None:
    async with _client() as client:
        document = (await client.get("/openapi.json")).json()
        invalid = await client.post("/things", json={"name": "a", "shared": "yes"})
        refused = await client.post("/things", json={"name": "refused"})
    declared = document["paths"]["/things"]["post"]["responses"]["422"]["content"]["application/json"]
    assert declared["schema"] == {
        "anyOf": [
            {"$ref": "#/components/schemas/ValidationProblem"},
            {"$ref": "#/components/schemas/Problem"},
        ]
    }
    schemas = document["components"]["schemas"]
    field = schemas["InvalidField"]
    assert set(invalid.json()["detail"][0]) == set(field["properties"]) == set(field["required"])
    assert set(refused.json()) <= set(schemas["Problem"]["properties"])
    assert set(schemas["Problem"]["required"]) <= set(refused.json())
    assert "HTTPValidationError" not in schemas  # FastAPI's, quoting the input that is never sent


async def test_a_route_needing_a_token_declares_the_bearer_scheme_and_what_its_shape_implies() -> None:
    async with _client() as client:
        document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    paths = document["paths"]
    listed, added = paths["/things"]["get"], paths["/things"]["post"]
    one, deleted = paths["/things/{thing_id}"]["get"], paths["/things/{thing_id}"]["delete"]
    assert "security" not in listed and "security" not in added
    assert one["security"] == deleted["security"] == [{"bearer": []}]
    assert set(listed["responses"]) == {"200", "413", "422"}
    assert set(added["responses"]) == {"201", "400", "408", "413", "422"}
    assert set(one["responses"]) == {"200", "401", "403", "404", "413", "422", "429", "503"}
    assert set(deleted["responses"]) == {"204", "400", "401", "403", "404", "409", "413", "422", "429", "503"}
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert all(
        response["content"] == problem
        for status, response in one["responses"].items()
        if status not in ("200", "422")
    )
