"""Builds the FastAPI app of a process from the routers of the services it runs.

Its OpenAPI document declares what every route's shape implies (`contract`). A method a
path does not support is answered 405 with an `Allow` header naming every method of that
path (all its routes together), and `OPTIONS` on any path with 204 and the same `Allow`.

Every app also serves `GET /healthz` (liveness), `GET /readyz` (`readiness`),
`GET /internal/metrics` (the process's Prometheus metrics, `prometheus.exposition`, to
any peer: a Prometheus scrapes each replica's port from its own host) and
`GET /internal/counters` (the process's `counters`, JSON). The counters are answered
only to a peer on loopback that no proxy relayed (no `X-Forwarded-For`/`Forwarded`): an
operator or a test on the host asking a replica's own port, never a client coming
through nginx (which does not route `/internal/` at all, and would add the header if it
did).

Every REST route's input is bounded (`edge.InputBounds`: `max_body_bytes`, no NUL), and
every 5xx it answers is logged with the request id (`edge.log_failure`), the 500 of an
unforeseen failure carrying the id in its body. With tracing on, every REST request is a
server span (`tracing.http_spans`).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from switchboard_core import telemetry
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import (
    InvalidInput,
    PermissionDenied,
    RateLimited,
    SwitchboardError,
    Unauthenticated,
    status_of,
)
from switchboard_core.http import contract
from switchboard_core.http.edge import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    InputBounds,
    RequestMark,
    current_mark,
    internal_error_body,
    log_failure,
    logged_elsewhere,
    request_id,
)
from switchboard_core.http.single_headers import SINGLE_HEADERS, repeated_header
from switchboard_core.prometheus.exposition import render
from switchboard_core.readiness import AlwaysReady
from switchboard_core.tracing.http_spans import ServerSpans

# The readiness of an app no host runs (tests): nothing to check.
ALWAYS_READY = AlwaysReady()


class OrjsonResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(exc: SwitchboardError) -> dict:
    body: dict = {"error": type(exc).__name__, "detail": exc.message}
    if exc.data:
        body["data"] = exc.data
    return body


async def _switchboard_error(request: Request, exc: SwitchboardError) -> OrjsonResponse:
    headers = None
    if isinstance(exc, Unauthenticated):
        # RFC 6750 §3.1: a request with no credentials gets no error code; a refused token does.
        refused = ', error="invalid_token"' if "authorization" in request.headers else ""
        headers = {"WWW-Authenticate": f'Bearer realm="switchboard"{refused}'}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    scope = (exc.data or {}).get("scope") if isinstance(exc, PermissionDenied) else None
    if isinstance(scope, str) and scope:
        # A token whose scopes leave out what was asked (RFC 6750 section 3.1).
        headers = {
            "WWW-Authenticate": f'Bearer realm="switchboard", error="insufficient_scope", scope="{scope}"'
        }
    status = status_of(exc)[0]
    body = error_body(exc)
    if status >= 500:
        log_failure(logger, "%s %s failed", request.method, request.url.path, exc=exc)
        if rid := request_id():
            body["request_id"] = rid
    return OrjsonResponse(body, status_code=status, headers=headers)


async def _unforeseen(request: Request, exc: Exception) -> OrjsonResponse:
    """The 500 of a failure no handler foresaw (Starlette re-raises it afterwards, and
    `edge.RequestIds` would log it; logged here too, once, in case no `RequestIds` wraps)."""
    log_failure(logger, "%s %s failed", request.method, request.url.path, exc=exc)
    return OrjsonResponse(internal_error_body(), status_code=500)


async def _invalid_request(request: Request, exc: RequestValidationError) -> OrjsonResponse:
    """FastAPI's 422, less the input each error quotes: that may be a password or a token
    (an upstream's credentials, a new user's password) and must not be sent back or logged."""
    errors = [{k: v for k, v in error.items() if k not in ("input", "ctx")} for error in exc.errors()]
    return OrjsonResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no such path, a method the path lacks) with the body every
    other error has; a 405's `Allow` names the methods of every route of the path, where
    Starlette names those of the first route it found."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _methods_of(request.app.router.routes, request.scope)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allowed})
        headers["Allow"] = allowed
    error = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "")
    return OrjsonResponse(
        {"error": error, "detail": str(exc.detail)}, status_code=exc.status_code, headers=headers
    )


def _methods_of(routes: Sequence[BaseRoute], scope: Any) -> str:
    # Asked method by method: FastAPI's included routers do not list their routes' methods.
    allowed = {"OPTIONS"}
    for method in _METHODS:
        probe = {**scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.add(method)
    return ", ".join(sorted(allowed))


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def create_app(
    *,
    title: str,
    routers: Sequence[APIRouter],
    routes: Sequence[BaseRoute] = (),
    description: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> FastAPI:
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        dependencies=[Depends(contract.one_value_each)],
        # FastAPI's own request spans would double ours (`tracing.http_spans`) and record
        # each request's query string, which may carry a credential.
        telemetry={"tracing": False},
    )
    app.add_middleware(InputBounds, max_body_bytes=max_body_bytes, body_timeout_s=body_timeout_s)
    if telemetry.tracing_active():
        # Outermost of the app's own layers: a refused body is a traced request too.
        app.add_middleware(ServerSpans)
    # Raw routes (the MCP endpoints) first: they bypass FastAPI's per-request machinery.
    for route in routes:
        app.router.routes.append(route)
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(SwitchboardError, _switchboard_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unforeseen)
    generate = app.openapi
    app.openapi = lambda: contract.declare(generate())  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> OrjsonResponse:
        # Answered from the last background check: a probe never waits on a database.
        status, body = getattr(request.app.state, "readiness", ALWAYS_READY).body()
        if status >= 500:
            logged_elsewhere()  # an orchestrator asks every few seconds: no line each time
        return OrjsonResponse(body, status_code=status)

    # A plain Starlette route: no dependency, no validation, not in the OpenAPI document.
    app.router.routes.append(Route("/internal/metrics", _metrics, methods=["GET"]))

    @app.get("/internal/counters", include_in_schema=False)
    async def counters(request: Request) -> OrjsonResponse:
        if not _asked_on_this_host(request):
            raise PermissionDenied("counters are served to loopback peers only")
        return OrjsonResponse({"counters": COUNTERS.snapshot()})

    return app


async def _metrics(request: Request) -> Response:
    """The process's Prometheus metrics, to any peer: a scraper runs on another host, and
    nothing here is secret (no ids beyond route templates and capped catalog names)."""
    body, content_type = render(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


def _asked_on_this_host(request: Request) -> bool:
    relayed = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return request.client is not None and _is_loopback(request.client.host) and not relayed


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


logger = logging.getLogger(__name__)


class RawRoutesFirst:
    """Serves the raw (hot-path) routes straight away, without FastAPI's middleware
    stack; everything else goes to the app. A raw route's endpoint answers its own errors;
    one it did not foresee is logged with its traceback (nothing else would: the HTTP
    server's own log is off) and answered 500 if no answer had begun. Before either, a
    request repeating a header that must be single (`single_headers`) is refused, 400:
    a JSON-RPC error from a raw route's path, the REST error body elsewhere."""

    def __init__(self, app: FastAPI, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.state = app.state
        self._routes = list(routes)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            repeated = repeated_header(scope["headers"])
            for route in self._routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = (
                        route  # as Starlette's router does: the access log and metrics read its template
                    )
                    if repeated is not None:
                        return await _refuse_repeated(send, repeated, jsonrpc=True)
                    scope.update(child_scope)
                    return await _logging_failures(route, scope, receive, send)
            if repeated is not None:
                return await _refuse_repeated(send, repeated, jsonrpc=False)
        await self.app(scope, receive, send)


async def _refuse_repeated(send, name: bytes, *, jsonrpc: bool) -> None:
    message = f"the {name.decode('latin-1')} header appears more than once"
    if jsonrpc:
        error = {"code": SINGLE_HEADERS[name], "message": message}
        body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})
    else:
        body = orjson.dumps(error_body(InvalidInput(message)))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if name == b"authorization":
        headers.append((b"www-authenticate", b'Bearer error="invalid_request"'))
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _logging_failures(route: BaseRoute, scope, receive, send) -> None:
    mark = current_mark()
    if mark is None:  # no `RequestIds` outside: follow the answer here
        mark = RequestMark(b"")

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                mark.status = message["status"]
            await send(message)

    else:  # `RequestIds` follows it already: one wrapper of `send` per request is enough
        sending = send
    try:
        await route.handle(scope, receive, sending)
    except Exception as exc:
        log_failure(logger, "%s %s failed", scope.get("method"), scope.get("path"), exc=exc)
        if not mark.status:
            headers = [(b"content-type", b"application/json")]
            await sending({"type": "http.response.start", "status": 500, "headers": headers})
            await sending({"type": "http.response.body", "body": _internal_error()})


def _internal_error() -> bytes:
    """What a raw route answers when its endpoint raised before answering (a JSON-RPC error)."""
    error: dict = {"code": -32603, "message": "Internal error"}
    if rid := request_id():
        error["data"] = {"request_id": rid}
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})
