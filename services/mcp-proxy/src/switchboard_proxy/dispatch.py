"""MCP methods the proxy answers, and which upstream each forwarded one goes to.

Transport-free: the HTTP endpoints and the gRPC servicer hand a parsed message and
a `CallContext` here and get back a JSON-RPC response dict, a `Relay` (when the
upstream streams), or None (a notification).

Whoever admits the caller has already decided `servers.use` on the server (the bearer
gate for every HTTP request, the gRPC servicer for its calls), so a method reaching a
catalog only fetches it (`catalog_for`); every entry it acts on goes through `_allow`
(may the caller do this with it?), see `catalog_views`; lists show the caller's view only.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from opentelemetry import trace
from switchboard.metrics.v1 import metrics_pb2
from switchboard_core import telemetry
from switchboard_core.errors import SwitchboardError, UpstreamUnavailable, status_of
from switchboard_core.policy import decide
from switchboard_core.principals import Principal
from switchboard_mcp import jsonrpc, param_headers, versions
from switchboard_mcp.upstream import UpstreamPool

from switchboard_proxy import catalog_views
from switchboard_proxy.call_metrics import UNAVAILABLE, CallMetrics, failure_of, process_call_metrics
from switchboard_proxy.catalog import Binding, Catalog, CatalogCache, HeldBack, Upstream
from switchboard_proxy.catalog_views import Hidden, View
from switchboard_proxy.client_upstreams import ClientUpstreams, wants_own_sessions
from switchboard_proxy.forward import OnDone, Relay, forward
from switchboard_proxy.metrics_buffer import MAX_ERROR_CHARS, MetricsBuffer
from switchboard_proxy.sessions import SUBSCRIPTIONS_LIMIT, Session, replica_of
from switchboard_proxy.upstream_events import UpstreamEvents

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

SERVER_INFO = {"name": "switchboard", "title": "Switchboard MCP gateway", "version": "0.1.0"}
CAPABILITIES = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "completions": {},
    "logging": {},
}
RESOURCE_NOT_FOUND = -32002

Reply = dict | Relay | None


@dataclass(slots=True)
class CallContext:
    principal: Principal
    server_id: str
    protocol_version: str
    session: Session | None = None


class InvalidParams(Exception):
    pass


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[Any, dict, CallContext], Awaitable[Reply | dict]]


class Dispatcher:
    def __init__(
        self,
        catalogs: CatalogCache,
        upstreams: UpstreamPool,
        metrics: MetricsBuffer,
        events: UpstreamEvents,
        *,
        page_size: int = 1000,
        upstream_timeout_s: float = 30.0,
        calls: CallMetrics | None = None,
    ) -> None:
        self.catalogs = catalogs
        self.upstreams = upstreams
        self.metrics = metrics
        self.calls = calls or process_call_metrics()
        self.events = events
        self.client_upstreams = ClientUpstreams(upstreams, timeout_s=upstream_timeout_s)
        self._traced = telemetry.tracing_active()
        # Set when replicas share sessions (session_relay.SessionRelay).
        self.relay = None
        self.page_size = page_size
        self._methods: dict[str, Handler] = {
            "ping": self._ping,
            "tools/list": self._lister("tools", lambda v: v.tools),
            "prompts/list": self._lister("prompts", lambda v: v.prompts),
            "resources/list": self._lister("resources", lambda v: v.resources),
            "resources/templates/list": self._lister("resourceTemplates", lambda v: v.templates),
            "tools/call": self._tools_call,
            "prompts/get": self._prompts_get,
            "resources/read": self._resources_read,
            "resources/subscribe": self._subscriber("resources/subscribe", subscribe=True),
            "resources/unsubscribe": self._subscriber("resources/unsubscribe", subscribe=False),
            "completion/complete": self._complete,
            "logging/setLevel": self._set_level,
        }

    async def catalog_for(self, ctx: CallContext) -> Catalog:
        """The catalog of the server the caller is on (admitted to it already)."""
        return await self.catalogs.get(ctx.server_id)

    async def view_for(self, ctx: CallContext) -> View:
        return catalog_views.view_of(await self.catalog_for(ctx), ctx.principal)

    def knows(self, method: str) -> bool:
        return method in self._methods or method == "initialize"

    def initialize_result(self, params: dict) -> dict:
        return {
            "protocolVersion": versions.negotiate(params.get("protocolVersion")),
            "capabilities": CAPABILITIES,
            "serverInfo": SERVER_INFO,
        }

    async def handle(self, msg: dict, ctx: CallContext) -> Reply:
        """The reply to one request, or None for a notification."""
        if "id" not in msg:
            return None
        id_ = msg["id"]
        handler = self._methods.get(msg["method"])
        if handler is None:
            return jsonrpc.error(id_, jsonrpc.METHOD_NOT_FOUND, f"Method not found: {msg['method']}")
        params = msg.get("params") or {}
        try:
            return await handler(id_, params, ctx)
        except InvalidParams as exc:
            return jsonrpc.error(id_, jsonrpc.INVALID_PARAMS, str(exc))
        except _Refused as exc:
            return jsonrpc.error(id_, exc.code, str(exc))
        except SwitchboardError as exc:
            return jsonrpc.error(id_, status_of(exc)[2], exc.message, exc.data)

    async def deliver(self, response: dict, session: Session) -> None:
        """The client's answer to a request an upstream sent it: back to that upstream,
        through the replica that sent the request when it was another."""
        owner = replica_of(response.get("id"))
        if self.relay is not None and owner is not None and owner != self.relay.replica:
            await self.relay.answer_elsewhere(owner, session, response)
            return
        await self.deliver_here(response, session)

    async def deliver_here(self, response: dict, session: Session) -> None:
        ref = session.pending.pop(str(response.get("id")), None)
        if ref is None:
            logger.debug("response to an unknown request %r dropped", response.get("id"))
            return
        try:
            await ref.upstream.send({**response, "id": ref.request_id})
        except SwitchboardError as exc:
            logger.info("could not deliver a client response upstream: %s", exc.message)

    async def notify(self, notification: dict, session: Session) -> None:
        """A client notification: cancellations go to the upstream doing the work (on
        whichever replica forwarded the request)."""
        if notification["method"] != "notifications/cancelled":
            return
        params = notification.get("params") or {}
        if params.get("requestId") not in session.inflight and self.relay is not None:
            await self.relay.cancel_elsewhere(session, notification)
            return
        await self.cancel_here(notification, session)

    async def cancel_here(self, notification: dict, session: Session) -> None:
        params = notification.get("params") or {}
        ref = session.inflight.get(params.get("requestId"))
        if ref is None:
            return
        try:
            await ref.upstream.send(
                jsonrpc.notification("notifications/cancelled", {**params, "requestId": ref.request_id})
            )
        except SwitchboardError as exc:
            logger.info("could not forward a cancellation: %s", exc.message)

    # -- answered here -------------------------------------------------------

    async def _ping(self, id_, _params: dict, _ctx: CallContext) -> dict:
        return jsonrpc.result(id_, {})

    def _lister(self, key: str, items: Callable[[View], list[dict]]) -> Handler:
        async def list_page(id_, params: dict, ctx: CallContext) -> dict:
            everything = items(await self.view_for(ctx))
            start = _offset(params.get("cursor"))
            page: dict[str, Any] = {key: everything[start : start + self.page_size]}
            if start + self.page_size < len(everything):
                page["nextCursor"] = _cursor(start + self.page_size)
            return jsonrpc.result(id_, page)

        return list_page

    async def _set_level(self, id_, params: dict, ctx: CallContext) -> dict:
        if not isinstance(params.get("level"), str):
            raise InvalidParams("logging/setLevel needs a level")
        catalog = await self.catalog_for(ctx)
        for upstream in catalog.upstreams_with("logging"):
            try:
                await pooled(self.upstreams, upstream).request("logging/setLevel", {"level": params["level"]})
            except SwitchboardError as exc:
                logger.info("logging/setLevel not applied at %s: %s", upstream.name, exc.message)
        return jsonrpc.result(id_, {})

    # -- forwarded -----------------------------------------------------------

    async def _tools_call(self, id_, params: dict, ctx: CallContext) -> Reply:
        name = params.get("name")
        if not isinstance(name, str):
            raise InvalidParams("tools/call needs a tool name")
        if "arguments" in params and not isinstance(params["arguments"], dict):
            raise InvalidParams("tools/call arguments must be an object")
        catalog = await self.catalog_for(ctx)
        binding = catalog.tools_by_name.get(name)
        if binding is None:
            self._refuse_unknown(ctx, "tools/call", "tool", name, catalog.held_tools.get(name))
        _allow(ctx, "tools.execute", binding, "tool")
        started = time.time()
        if not self._traced:
            return await self._call_tool(
                binding, id_, params, ctx, self._recorder(binding, ctx, started, None)
            )
        with tracer.start_as_current_span("tools/call", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("mcp.tool", name)
            record = self._recorder(binding, ctx, started, span.get_span_context())
            return await self._call_tool(binding, id_, params, ctx, record)

    async def _call_tool(self, binding: Binding, id_, params: dict, ctx: CallContext, record) -> Reply:
        # Upstreams of the stateless revision check these against the arguments.
        mirrored = (
            param_headers.headers_for(binding.param_headers, params.get("arguments"))
            if binding.param_headers
            else None
        )
        try:
            return await self._forward(
                binding, id_, "tools/call", {**params, "name": binding.upstream_name}, ctx, record, mirrored
            )
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(f"tool '{binding.name}' is unavailable: {exc.message}") from exc

    async def _prompts_get(self, id_, params: dict, ctx: CallContext) -> Reply:
        name = params.get("name")
        if not isinstance(name, str):
            raise InvalidParams("prompts/get needs a prompt name")
        catalog = await self.catalog_for(ctx)
        binding = catalog.prompts_by_name.get(name)
        if binding is None:
            self._refuse_unknown(ctx, "prompts/get", "prompt", name, catalog.held_prompts.get(name))
        _allow(ctx, "prompts.read", binding, "prompt")
        return await self._forward(
            binding,
            id_,
            "prompts/get",
            {**params, "name": binding.upstream_name},
            ctx,
            self._timer("prompts/get", binding, ctx),
        )

    async def _resources_read(self, id_, params: dict, ctx: CallContext) -> Reply:
        binding = await self._resource(params, ctx)
        return await self._forward(
            binding, id_, "resources/read", params, ctx, self._timer("resources/read", binding, ctx)
        )

    def _subscriber(self, method: str, *, subscribe: bool) -> Handler:
        async def subscription(id_, params: dict, ctx: CallContext) -> Reply:
            binding = await self._resource(params, ctx)
            if not (binding.upstream.capabilities.get("resources") or {}).get("subscribe"):
                raise _Refused(
                    jsonrpc.METHOD_NOT_FOUND, f"the upstream serving {params['uri']} offers no subscriptions"
                )
            uri, shared = params["uri"], not wants_own_sessions(ctx.session)
            if subscribe and ctx.session is not None and not ctx.session.may_subscribe(uri):
                raise _Refused(
                    jsonrpc.INVALID_PARAMS,
                    f"a session holds at most {SUBSCRIPTIONS_LIMIT} subscriptions; unsubscribe from one first",
                )
            if not subscribe and shared and self.events.wanted_by_another(uri, ctx.session):
                # The pooled upstream session still serves other subscribers of this URI.
                ctx.session.subscriptions.discard(uri)
                return jsonrpc.result(id_, {})
            reply = await self._forward(binding, id_, method, params, ctx)
            if ctx.session is not None and isinstance(reply, dict) and "result" in reply:
                if subscribe:
                    if shared:  # an own upstream session is followed by ClientUpstreams already
                        self.events.watch(
                            pooled(self.upstreams, binding.upstream), uri, self.upstreams.current
                        )
                    ctx.session.subscriptions.add(uri)
                else:
                    ctx.session.subscriptions.discard(uri)
            return reply

        return subscription

    async def watch_resource(self, ctx: CallContext, uri: str) -> bool:
        """Subscribe the pooled upstream session to `uri` for a listen stream (unless it
        is already); False when no upstream of the server the caller may read it from
        offers subscriptions to it."""
        binding = (await self.catalog_for(ctx)).resource(uri, _readable(ctx))
        if binding is None or not (binding.upstream.capabilities.get("resources") or {}).get("subscribe"):
            return False
        try:
            upstream = pooled(self.upstreams, binding.upstream)
        except SwitchboardError as exc:
            logger.info("could not subscribe to %s at %s: %s", uri, binding.upstream.name, exc.message)
            return False
        if not self.events.wanted_by_another(uri):
            try:
                await upstream.request("resources/subscribe", {"uri": uri})
            except SwitchboardError as exc:
                logger.info("could not subscribe to %s at %s: %s", uri, binding.upstream.name, exc.message)
                return False
        self.events.watch(upstream, uri, self.upstreams.current)
        return True

    async def unwatch_resource(self, server_id: str, uri: str, stream) -> None:
        """A listen stream no longer wants `uri`: unsubscribe upstream if nobody else does."""
        if self.events.wanted_by_another(uri, stream=stream):
            return
        try:
            offers = (await self.catalogs.get(server_id)).offers(uri)
        except SwitchboardError as exc:
            logger.info("could not unsubscribe from %s: %s", uri, exc.message)
            return
        # The stream subscribed on the first offer its caller could read: unsubscribe on
        # each (an upstream never subscribed answers an error, logged and ignored).
        for binding in offers:
            try:
                await pooled(self.upstreams, binding.upstream).request("resources/unsubscribe", {"uri": uri})
            except SwitchboardError as exc:
                logger.info(
                    "could not unsubscribe from %s at %s: %s", uri, binding.upstream.name, exc.message
                )

    async def _complete(self, id_, params: dict, ctx: CallContext) -> Reply:
        ref = params.get("ref")
        if not isinstance(ref, dict):
            raise InvalidParams("completion/complete needs a ref")
        catalog = await self.catalog_for(ctx)
        if ref.get("type") == "ref/prompt":
            binding = catalog.prompts_by_name.get(ref.get("name", ""))
            if binding is None:
                raise InvalidParams(f"Unknown prompt: {ref.get('name')}")
            _allow(ctx, "prompts.read", binding, "prompt")
            params = {**params, "ref": {**ref, "name": binding.upstream_name}}
        elif ref.get("type") == "ref/resource":
            binding = catalog.resource(ref.get("uri", ""), _readable(ctx))
            if binding is None:
                raise InvalidParams(f"Unknown resource: {ref.get('uri')}")
        else:
            raise InvalidParams("ref.type must be ref/prompt or ref/resource")
        if "completions" not in binding.upstream.capabilities:
            return jsonrpc.result(id_, {"completion": {"values": [], "hasMore": False}})
        return await self._forward(binding, id_, "completion/complete", params, ctx)

    async def _resource(self, params: dict, ctx: CallContext) -> Binding:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise InvalidParams("a resource uri is needed")
        binding = (await self.catalog_for(ctx)).resource(uri, _readable(ctx))
        if binding is None:
            raise _Refused(RESOURCE_NOT_FOUND, f"Resource not found: {uri}")
        return binding

    async def _forward(
        self,
        binding: Binding,
        id_,
        method: str,
        params: dict,
        ctx: CallContext,
        on_done: OnDone | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Forward to the binding's upstream; `on_done` (or, without one, a counter of
        upstream failures) hears how it ended."""
        on_done = on_done or self._counter(binding)
        target = binding.upstream
        try:
            upstream = await self.client_upstreams.session_for(target.url, ctx.session, target.credentials())
        except BaseException as exc:
            on_done(None, exc)
            raise
        return await forward(
            upstream, id_, method, params, ctx.session, on_done, traced=self._traced, headers=headers
        )

    def _recorder(self, binding: Binding, ctx: CallContext, started: float, span_context):
        traced = span_context is not None and span_context.is_valid
        trace_id = format(span_context.trace_id, "032x") if traced else ""
        span_id = format(span_context.span_id, "016x") if traced else ""
        name = binding.name
        calls = self.calls

        def record(final: dict | None, broken: BaseException | None = None) -> None:
            seconds = time.time() - started
            result = final.get("result") if final else None
            ok = isinstance(result, dict) and not result.get("isError")
            calls.ended("tools/call", ctx.server_id, name, binding.gateway_id, final, broken, seconds)
            error = (
                ""
                if ok
                else str(
                    (final or {}).get("error", {}).get("message", "tool error" if result else _why(broken))
                )[:MAX_ERROR_CHARS]
            )
            self.metrics.record(
                metrics_pb2.Invocation(
                    tool=name,
                    server_id=ctx.server_id,
                    gateway_id=binding.gateway_id,
                    caller=ctx.principal.email,
                    duration_ms=seconds * 1000.0,
                    success=ok,
                    started_at_ms=int(started * 1000),
                    error=error,
                    trace_id=trace_id,
                    span_id=span_id,
                )
            )

        return record

    def _timer(self, method: str, binding: Binding, ctx: CallContext) -> OnDone:
        """Observes a prompts/get or resources/read (these leave no invocation record)."""
        started = time.time()
        calls = self.calls

        def done(final: dict | None, broken: BaseException | None = None) -> None:
            seconds = time.time() - started
            calls.ended(method, ctx.server_id, binding.name, binding.gateway_id, final, broken, seconds)

        return done

    def _counter(self, binding: Binding) -> OnDone:
        """Counts the upstream's failures of a forward no duration is kept of."""
        calls = self.calls

        def done(final: dict | None, broken: BaseException | None = None) -> None:
            if final is None and broken is not None and (kind := failure_of(broken)[1]) is not None:
                calls.upstream_failed(binding.gateway_id, kind)

        return done

    def _refuse_unknown(
        self, ctx: CallContext, method: str, kind: str, name: str, held: HeldBack | None
    ) -> NoReturn:
        """`_unknown`, observing a call to an entry held back while its upstream is down
        as `unavailable` (the upstream is what failed it, not the caller)."""
        try:
            _unknown(ctx, kind, name, held)
        except UpstreamUnavailable:
            self.calls.observe(method, ctx.server_id, name, UNAVAILABLE, 0.0)
            raise


def _why(broken: BaseException | None) -> str:
    if isinstance(broken, SwitchboardError):
        return broken.message
    return "no answer"


def pooled(pool: UpstreamPool, upstream: Upstream):
    """The pooled session with `upstream`, sending its credentials."""
    return pool.session(upstream.url, upstream.credentials())


def _allow(ctx: CallContext, permission: str, binding: Binding, kind: str) -> None:
    """Raise unless the caller may do `permission` with the entry: one it may not see is
    unknown (the words of `_unknown`), one it may see refused naming the permission."""
    try:
        catalog_views.require(ctx.principal, permission, binding.access, f"{kind} '{binding.name}'")
    except Hidden:
        raise InvalidParams(f"Unknown {kind}: {binding.name}") from None


def _readable(ctx: CallContext) -> Callable[[Binding], bool]:
    """Which resources (and templates) the caller may read: one it may not is as absent."""
    return lambda binding: decide(ctx.principal, "resources.read", binding.access).allowed


def _unknown(ctx: CallContext, kind: str, name: str, held: HeldBack | None) -> NoReturn:
    """Raise for a name the catalog does not serve: unavailable if it is held back while
    its upstream is down and the caller may see it, unknown otherwise."""
    if held is not None and catalog_views.sees(ctx.principal, f"{kind}s.read", held.access):
        raise UpstreamUnavailable(
            f"{kind} '{name}' is unavailable: its upstream '{held.gateway_name}' is down"
        )
    raise InvalidParams(f"Unknown {kind}: {name}")


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(str(cursor).encode()).decode().partition(":")
        if kind == "o" and int(value) >= 0:
            return int(value)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise InvalidParams("invalid cursor")
