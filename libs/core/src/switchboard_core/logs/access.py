"""The per-request access log (`SWITCHBOARD_ACCESS_LOG=true`): one line per HTTP request.

Each line says the method, the route template (`/gateways/{gateway_id}`; the path when
no route matched), the status, the duration, the response body's bytes, the request id,
the trace (the server span current when the answer began: the line itself is written
after it ended) and the client's address as `forwarded` believes it (X-Forwarded-For
only from a trusted proxy). The query string is never logged: a token may travel in it. The host puts this
class in the chain only when the log is on, so with it off a request pays nothing; it
sits inside `edge.RequestIds`, whose id its line carries.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from switchboard_core.http.forwarded import ProxyTrust

logger = logging.getLogger("switchboard.access")

_FORWARDED_FOR = b"x-forwarded-for"
# A path no route matched is the client's text: logged, but only this much of it.
_MAX_PATH = 200


def with_access_log(app, *, enabled: bool, trust: ProxyTrust):
    """`app` logged by `AccessLog` when the log is on, else `app` itself: nothing in between."""
    return AccessLog(app, trust=trust) if enabled else app


class AccessLog:
    def __init__(self, app, *, trust: ProxyTrust) -> None:
        self.app = app
        self.trust = trust

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0
        sent = 0
        span = INVALID_SPAN_CONTEXT

        async def sending(message) -> None:
            nonlocal status, sent, span
            if message["type"] == "http.response.start":
                status = message["status"]
                # The server span (if any) is current where the answer begins, not out here.
                span = trace.get_current_span().get_span_context()
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        failed = True
        try:
            await self.app(scope, receive, sending)
            failed = False
        finally:
            # Nothing answered: a failure (`RequestIds` answers 500), or a client gone first
            # (499, as nginx says it).
            answered = status or (500 if failed else 499)
            self._log(scope, answered, sent, time.perf_counter() - started, span)

    def _log(self, scope, status: int, sent: int, duration_s: float, span: SpanContext) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or scope["path"][:_MAX_PATH]
        method = scope.get("method", "")
        client = self._client(scope)
        logger.info(
            "%s %s %d %.1f ms %d B from %s",
            method,
            template,
            status,
            duration_s * 1000,
            sent,
            client or "?",
            extra={
                "method": method,
                "route": template,
                "status": status,
                "duration_s": round(duration_s, 6),
                "bytes": sent,
                "client": client,
                **_span_fields(span),
            },
        )

    def _client(self, scope) -> str:
        forwarded = ""
        for name, value in scope["headers"]:
            if name == _FORWARDED_FOR:
                forwarded = value.decode("latin-1")
                break
        address = self.trust.client_address(scope, {"x-forwarded-for": forwarded} if forwarded else {})
        return str(address) if address is not None else ""


def _span_fields(span: SpanContext) -> dict[str, str]:
    if not span.is_valid:
        return {}
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}
