"""One CLIENT span per HTTP request to an upstream, inside a trace, and the W3C context
(`traceparent`) sent with it.

An aiohttp client middleware the upstream clients carry only when tracing is on
(`pool.new_http_client`, `UpstreamClients.client`). The span covers the request until
the response's head arrives (a streamed body is read afterwards, by the session). The
`traceparent` sent is this span's, so the upstream's own server span becomes its child.
Attributes: `http.request.method`, `server.address`, `server.port`, `url.full` without
its query or user info (either may hold a credential), `http.response.status_code`.
"""

from __future__ import annotations

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode, TracerProvider
from switchboard_core.tracing import inside_a_trace


def client_spans(tracer_provider: TracerProvider | None = None):
    """The middleware making the spans (first of a client's middlewares)."""
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if not inside_a_trace():
            return await handler(request)
        url = request.url
        with tracer.start_as_current_span(
            request.method,
            kind=trace.SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "server.address": url.host or "",
                "server.port": url.port or 0,
                "url.full": str(url.with_query(None).with_fragment(None).with_user(None)),
            },
        ) as span:
            propagate.inject(request.headers)
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return middleware
