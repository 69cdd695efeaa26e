"""MCP methods the proxy answers, and the forwarding of tools/call to upstreams.

Transport-free: the HTTP endpoint and the gRPC servicer both hand a parsed message
and a `CallContext` here and get a JSON-RPC response dict (or None for a
notification) back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from switchboard.metrics.v1 import metrics_pb2
from switchboard_core.errors import SwitchboardError, UpstreamUnavailable, status_of
from switchboard_core.principals import Principal
from switchboard_mcp import jsonrpc, versions
from switchboard_mcp.upstream import UpstreamPool, UpstreamRPCError

from switchboard_proxy.catalog import CatalogCache
from switchboard_proxy.metrics_buffer import MetricsBuffer

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

SERVER_INFO = {"name": "switchboard", "title": "Switchboard MCP gateway", "version": "0.1.0"}


@dataclass(slots=True)
class CallContext:
    principal: Principal
    server_id: str
    protocol_version: str


Handler = Callable[[dict, CallContext], Awaitable[Any]]


class Dispatcher:
    def __init__(self, catalogs: CatalogCache, upstreams: UpstreamPool, metrics: MetricsBuffer) -> None:
        self.catalogs = catalogs
        self.upstreams = upstreams
        self.metrics = metrics
        self._methods: dict[str, Handler] = {
            "ping": self._ping,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
        }

    def knows(self, method: str) -> bool:
        return method in self._methods or method == "initialize"

    async def handle(self, msg: dict, ctx: CallContext) -> dict | None:
        """The response to one request, or None for a notification."""
        method = msg["method"]
        if "id" not in msg:
            return None
        handler = self._methods.get(method)
        if handler is None:
            return jsonrpc.error(msg["id"], jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")
        try:
            return jsonrpc.result(msg["id"], await handler(msg.get("params") or {}, ctx))
        except UpstreamRPCError as exc:
            return jsonrpc.error(msg["id"], exc.code, exc.message, exc.rpc_data)
        except _InvalidParams as exc:
            return jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS, str(exc))
        except SwitchboardError as exc:
            return jsonrpc.error(msg["id"], status_of(exc)[2], exc.message, exc.data)

    def initialize_result(self, params: dict) -> dict:
        return {
            "protocolVersion": versions.negotiate(params.get("protocolVersion")),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": SERVER_INFO,
        }

    async def _ping(self, _params: dict, _ctx: CallContext) -> dict:
        return {}

    async def _tools_list(self, _params: dict, ctx: CallContext) -> dict:
        catalog = await self.catalogs.get(ctx.server_id)
        return {"tools": catalog.tools}

    async def _tools_call(self, params: dict, ctx: CallContext) -> dict:
        name = params.get("name")
        if not isinstance(name, str):
            raise _InvalidParams("tools/call needs a tool name")
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            raise _InvalidParams("tools/call arguments must be an object")
        catalog = await self.catalogs.get(ctx.server_id)
        binding = catalog.by_name.get(name)
        if binding is None:
            raise _InvalidParams(f"Unknown tool: {name}")
        started = time.time()
        ok, error = False, ""
        with tracer.start_as_current_span("tools/call", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("mcp.tool", name)
            headers: dict[str, str] = {}
            propagate.inject(headers)
            try:
                session = self.upstreams.session(binding.upstream_url)
                result = await session.call_tool(binding.upstream_name, arguments, extra_headers=headers)
                ok = not (isinstance(result, dict) and result.get("isError"))
                return result
            except UpstreamUnavailable as exc:
                error = exc.message
                raise UpstreamUnavailable(f"tool '{name}' is unavailable: {exc.message}") from exc
            except SwitchboardError as exc:
                error = exc.message
                raise
            finally:
                ctx_span = span.get_span_context()
                self.metrics.record(
                    metrics_pb2.Invocation(
                        tool=name,
                        server_id=ctx.server_id,
                        gateway_id=binding.gateway_id,
                        caller=ctx.principal.email,
                        duration_ms=(time.time() - started) * 1000.0,
                        success=ok,
                        started_at_ms=int(started * 1000),
                        error=error,
                        trace_id=format(ctx_span.trace_id, "032x") if ctx_span.is_valid else "",
                        span_id=format(ctx_span.span_id, "016x") if ctx_span.is_valid else "",
                    )
                )


class _InvalidParams(Exception):
    pass
