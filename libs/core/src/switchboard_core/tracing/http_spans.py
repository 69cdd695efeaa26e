"""One SERVER span per REST request (the admin and service routes; the raw MCP routes
make their own).

Added to the FastAPI app only when tracing is on (`http.app.create_app`). The span joins
the W3C trace context the request came with (`traceparent`), is current while the route
runs (so its SQL, Redis, gRPC and upstream spans are its children), and is named
`METHOD /route/template` once routing has found the route (`METHOD` alone when none
matched: an unknown path must not name a span). Attributes: `http.request.method`,
`http.route`, `http.response.status_code`, and `switchboard.request_id`, the id nginx
sent in `X-Request-ID` (or the one `edge.RequestIds` made), which the response carries
back: the way from what a client saw to this trace.
"""

from __future__ import annotations

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Status, StatusCode, TracerProvider

from switchboard_core.http.edge import request_id


class ServerSpans:
    def __init__(self, app, tracer_provider: TracerProvider | None = None) -> None:
        self.app = app
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        method = scope["method"]
        token = context.attach(propagate.extract(carrier)) if carrier else None
        try:
            with self._tracer.start_as_current_span(
                method,
                kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method, "switchboard.request_id": request_id()},
            ) as span:

                async def sending(message) -> None:
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        span.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR))
                    await send(message)

                try:
                    await self.app(scope, receive, sending)
                finally:
                    route = _template(scope)
                    if route:
                        span.set_attribute("http.route", route)
                        span.update_name(f"{method} {route}")
        finally:
            if token is not None:
                context.detach(token)


def _template(scope) -> str:
    """The path template of the route that served the request ("" when none matched)."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", "") or ""
