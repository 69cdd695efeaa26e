"""HTTP RED metrics: every request's duration by route template, method and code, and
the requests in flight (`switchboard_http_request_duration_seconds`,
`switchboard_http_requests_in_flight`).

`RequestMetrics` sits inside `edge.RequestIds` (whose `RequestMark` already follows the
answer's status, so `send` is not wrapped a second time) and outside the routing: once
the app returned, `scope["route"]` is the route that matched (Starlette's router and
`RawRoutesFirst` put it there), and its template (`/servers/{server_id}/mcp`), never the
raw path, is the label; a request no route matched is `_unmatched`. Methods outside the
HTTP set are folded into `OTHER`: both keep the label values a client can cause bounded.

It is on the MCP hot path, so an observation is two clock reads, a dict lookup for the
label set's series, resolved once, and that series' lock-free `observe`
(`prometheus.loop_histogram`: requests and scrapes share the event loop).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from switchboard_core.http.edge import RequestMark, current_mark
from switchboard_core.prometheus.catalogue import HTTP_REQUEST_DURATION, HTTP_REQUESTS_IN_FLIGHT
from switchboard_core.prometheus.loop_histogram import LoopHistogram

UNMATCHED = "_unmatched"


class _InFlight:
    """Requests in flight in this process: a plain int the gauge reads at scrape time
    (two locked gauge updates per request cost more than the histogram's observation)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


IN_FLIGHT = _InFlight()
HTTP_REQUESTS_IN_FLIGHT.set_function(lambda: IN_FLIGHT.count)
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class RequestMetrics:
    def __init__(self, app, histogram: LoopHistogram = HTTP_REQUEST_DURATION) -> None:
        self.app = app
        self.state = getattr(app, "state", None)
        self._histogram = histogram
        self._observe: dict[tuple[str, str, int], Callable[[float], None]] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        mark = current_mark()
        if mark is None:  # no `RequestIds` outside: follow the answer here
            mark = RequestMark(b"")
            answered = send

            async def send(message) -> None:
                if message["type"] == "http.response.start":
                    mark.status = message["status"]
                await answered(message)

        IN_FLIGHT.count += 1
        started = perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.count -= 1
            # An app that raised before answering is answered 500 by `RequestIds`.
            self._observer(scope, mark.status or 500)(perf_counter() - started)

    def _observer(self, scope, status: int) -> Callable[[float], None]:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        key = (template, method, status)
        observe = self._observe.get(key)
        if observe is None:
            observe = self._observe[key] = self._histogram.labels(template, method, str(status)).observe
        return observe
