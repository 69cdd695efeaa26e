"""Builds the FastAPI app of a process from the routers of the services it runs."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match

from switchboard_core.errors import SwitchboardError, Unauthenticated, status_of


class OrjsonResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(exc: SwitchboardError) -> dict:
    body: dict = {"error": type(exc).__name__, "detail": exc.message}
    if exc.data:
        body["data"] = exc.data
    return body


async def _switchboard_error(_request: Request, exc: SwitchboardError) -> OrjsonResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="switchboard"'} if isinstance(exc, Unauthenticated) else None
    return OrjsonResponse(error_body(exc), status_code=status_of(exc)[0], headers=headers)


def create_app(
    *,
    title: str,
    routers: Sequence[APIRouter],
    routes: Sequence[BaseRoute] = (),
    description: str = "",
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="0.1.0")
    # Raw routes (the MCP endpoints) first: they bypass FastAPI's per-request machinery.
    for route in routes:
        app.router.routes.append(route)
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(SwitchboardError, _switchboard_error)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


class RawRoutesFirst:
    """Serves the raw (hot-path) routes straight away, without FastAPI's middleware
    stack; everything else goes to the app. A raw route's endpoint answers its own errors."""

    def __init__(self, app: FastAPI, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.state = app.state
        self._routes = list(routes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            for route in self._routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    return await route.handle(scope, receive, send)
        await self.app(scope, receive, send)
