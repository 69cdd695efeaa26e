"""Prometheus figures of the calls the proxy forwards: durations by server, name and
outcome (`switchboard_mcp_call_duration_seconds`) and upstream failures by kind
(`switchboard_upstream_errors_total`).

Recording is on the hot path of every tools/call, so one observation is a dict lookup
and `observe` on a cached series of the lock-free `LoopHistogram` (every call ends on
the event loop): `labels()` runs once per distinct series, not per call. Server
and name pass through one `BoundedLabels` per process (the cap is the proxy setting
`metrics_max_series`), and the cache holds only admitted keys, so neither the series
nor the cache grow past the cap however many names callers send.

Outcomes: `ok`; `tool_error` (a result with `isError`); `error` (a JSON-RPC error from
the upstream, or an answer the gateway could not use); `timeout` (the upstream did not
answer in time); `unavailable` (unreachable, refused by the outbound guard, or held
back while the registry sees it down).
"""

from __future__ import annotations

import re
import threading

import aiohttp
from switchboard_core.errors import UpstreamError, UpstreamUnavailable
from switchboard_core.prometheus.bounded import DEFAULT_CAP, BoundedLabels
from switchboard_core.prometheus.catalogue import MCP_CALL_DURATION, UPSTREAM_ERRORS

# The `server` label of the endpoint serving every tool (`/mcp`, no server id).
ALL_SERVERS = "all"
OK, TOOL_ERROR, ERROR, TIMEOUT, UNAVAILABLE = "ok", "tool_error", "error", "timeout", "unavailable"

# The upstream library tells an HTTP status it could not use only in its message
# ("answered HTTP 502", a 4xx or 5xx); matching it here keeps that library's error tree as it is.
_HTTP_STATUS = re.compile(r"\bHTTP [45]\d\d\b")


def outcome_of(final: dict | None) -> str:
    """The outcome of a call that got an answer (`final`, with the client's id), or
    `error` when the exchange ended with none."""
    if final is None:
        return ERROR
    result = final.get("result")
    if isinstance(result, dict):
        return TOOL_ERROR if result.get("isError") else OK
    return ERROR


def failure_of(exc: BaseException) -> tuple[str, str | None]:
    """(outcome, upstream error kind) of a call that raised `exc`; the kind is None when
    the upstream is not to blame (bad input, the client went away)."""
    if not isinstance(exc, UpstreamError):
        return ERROR, None
    if _caused_by(exc, TimeoutError):
        return TIMEOUT, "timeout"
    if isinstance(exc, UpstreamUnavailable) or _caused_by(exc, (aiohttp.ClientError, OSError)):
        return UNAVAILABLE, "connect"
    if _HTTP_STATUS.search(exc.message):
        return ERROR, "http"
    return ERROR, "protocol"


def _caused_by(exc: BaseException, kinds) -> bool:
    seen: BaseException | None = exc.__cause__
    for _ in range(8):  # causes chain shortly; a cycle must not hang a request
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


class CallMetrics:
    """Observes forwarded calls into the process's Prometheus registry."""

    __slots__ = ("labels", "_children", "_folded", "_errors")

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.labels = BoundedLabels(cap)
        self._children: dict[tuple[str, str, str, str], object] = {}
        # Children of folded series, by their label values (bounded: servers are).
        self._folded: dict[tuple[str, str, str, str], object] = {}
        self._errors: dict[tuple[str, str], object] = {}

    def observe(self, method: str, server_id: str, name: str, outcome: str, seconds: float) -> None:
        key = (method, server_id, name, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._child(key)
        child.observe(seconds)

    def _child(self, key: tuple[str, str, str, str]):
        method, server_id, name, outcome = key
        server, label = self.labels.admit(server_id or ALL_SERVERS, name)
        if label == name:
            child = self._children[key] = MCP_CALL_DURATION.labels(method, server, label, outcome)
            return child
        # Folded: not cached under the caller's name, or the cache would grow with every
        # name past the cap (`admit` is a set lookup for those).
        values = (method, server, label, outcome)
        child = self._folded.get(values)
        if child is None:
            child = self._folded[values] = MCP_CALL_DURATION.labels(*values)
        return child

    def ended(
        self,
        method: str,
        server_id: str,
        name: str,
        gateway_id: str,
        final: dict | None,
        broken: BaseException | None,
        seconds: float,
    ) -> None:
        """Observe a forwarded call that ended with `final` (the answer), or with none
        because of `broken`, counting the upstream's part in a failure."""
        if final is None and broken is not None:
            outcome, kind = failure_of(broken)
            if kind is not None:
                self.upstream_failed(gateway_id, kind)
        else:
            outcome = outcome_of(final)
        self.observe(method, server_id, name, outcome, seconds)

    def upstream_failed(self, gateway_id: str, kind: str) -> None:
        key = (gateway_id, kind)
        child = self._errors.get(key)
        if child is None:
            child = self._errors[key] = UPSTREAM_ERRORS.labels(gateway_id, kind)
        child.inc()


_process_calls: CallMetrics | None = None
_process_lock = threading.Lock()


def process_call_metrics(cap: int = DEFAULT_CAP) -> CallMetrics:
    """The process's one `CallMetrics` (its cap is the first caller's): the label cap
    bounds the process's series, so every dispatcher in it shares one."""
    global _process_calls
    with _process_lock:
        if _process_calls is None:
            _process_calls = CallMetrics(cap)
        return _process_calls
