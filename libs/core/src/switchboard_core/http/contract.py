"""What the OpenAPI documents promise, taken from the routes themselves.

Each service's routers declare only what is particular to a route (a 400 for a time range
given backwards, a 502 when an upstream fails). What follows from a route's shape is
declared here, once, for every route of every service:

- a route that needs a token (it depends on `current_principal`, which declares the
  `bearer` scheme through `BEARER`) may answer 401, 403 (the token's scopes, networks or
  the caller's role refuse it), 429 (a rate limit is spent) and 503 (a service it needs is
  down);
- a route with a path parameter may answer 404;
- a route that needs a token and changes something (POST, PUT, PATCH, DELETE) may answer
  400 and 409;
- a route with a body may answer 400 (a body that is not JSON);
- a route with parameters or a body may answer 422: a `ValidationProblem` when the request
  does not match its schema (also a query parameter the route does not have, or one given
  twice: `one_value_each`), a
  `Problem` when it is well formed but refused;
- every route may answer 413 (the body is over the size limit).

Every 4xx and 5xx carries a `Problem` (`error_body()`), except the 422 above.
"""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

_REF = "#/components/schemas/{model}"
MUTATING = frozenset({"post", "put", "patch", "delete"})


class Body(BaseModel):
    """A JSON request body, read strictly: JSON carries its own types, so `0` is not
    `false`, `false` not `0` and `0.5` no integer."""

    model_config = ConfigDict(strict=True)


class Problem(BaseModel):
    """Why a request was refused (every 4xx and 5xx but a request the schema refuses)."""

    error: str = Field(description="The kind of error, e.g. `NotFound`, `Conflict`, `RateLimited`.")
    detail: str = Field(description="What went wrong, for a person to read.")
    data: dict[str, Any] | None = Field(
        default=None, description="Details for a program (the clashing names of a 409, say); often absent."
    )


class InvalidField(BaseModel):
    type: str = Field(description="pydantic's error type, e.g. `missing`, `int_parsing`.")
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field.")
    msg: str


class ValidationProblem(BaseModel):
    """The request does not match its schema; the values given are never quoted back."""

    detail: list[InvalidField]


class BearerScheme(HTTPBearer):
    """Declares the bearer scheme on the routes that need a token. Reads nothing:
    `current_principal` reads the Authorization header, once."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


BEARER = BearerScheme(
    scheme_name="bearer",
    description="A token from POST /auth/login or POST /auth/tokens: `Authorization: Bearer <token>`.",
    auto_error=False,
)


async def one_value_each(request: Request) -> None:
    """Refuses a query parameter the route does not have (a misspelt `?ofset=` would
    otherwise be ignored without a word, and the caller would read the wrong page), and
    one of the route's given more than once: FastAPI would read the last value, a proxy or
    a log in front may read the first."""
    query = request.query_params
    if not query:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    names = _query_names(dependant) if dependant is not None else set()
    errors = [
        {"type": "extra_forbidden", "loc": ("query", name), "msg": "not a parameter of this route"}
        for name in sorted(set(query.keys()) - names)
    ]
    if len(query.multi_items()) != len(query):
        errors += [
            {"type": "repeated", "loc": ("query", name), "msg": "given more than once"}
            for name in sorted(names)
            if len(query.getlist(name)) > 1
        ]
    if errors:
        raise RequestValidationError(errors)


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_SAID = {
    400: "Invalid input, or a body that is not JSON",
    401: "Missing, invalid, expired or revoked token",
    403: "The caller, or the token's scopes or networks, may not do this",
    404: "No such entity, or not one the caller may see",
    408: "The request body did not arrive whole within the body timeout",
    409: "Conflicts with what exists",
    413: "The request body is over the size limit",
    422: "The request does not match the schema, or is well formed but refused",
    429: "A rate limit is spent; retry after `Retry-After` seconds",
    503: "A service this needs is unavailable; retry after a while",
}


def declare(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document `schema` (as FastAPI made it) with the statuses every route's
    shape implies, each with the body really sent. Idempotent."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationProblem):
        defs = model.model_json_schema(ref_template=_REF)
        components.update(defs.pop("$defs", {}))
        components[model.__name__] = defs
    # FastAPI's own 422 schema quotes `input` and `ctx`, which `_invalid_request` strips.
    for unsent in ("HTTPValidationError", "ValidationError"):
        components.pop(unsent, None)
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            _declare_operation(method, operation)
    return schema


def _declare_operation(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    implied = {413}
    if operation.get("security"):
        implied |= {401, 403, 429, 503}
        if method in MUTATING:
            implied |= {400, 409}
    if any(p.get("in") == "path" for p in operation.get("parameters", ())):
        implied.add(404)
    if "requestBody" in operation:
        implied |= {400, 408}
    if operation.get("parameters") or "requestBody" in operation:
        implied.add(422)
    for status in implied:
        responses.setdefault(str(status), {"description": _SAID[status]})
    for status, response in responses.items():
        if status == "422":
            response["content"] = _json({"anyOf": [_ref(ValidationProblem), _ref(Problem)]})
        elif status[0] in "45" and "content" not in response:
            response["content"] = _json(_ref(Problem))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
