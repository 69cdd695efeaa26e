"""ProxyService gRPC face: tools for internal callers that do not speak MCP.

Held to the same rules as the MCP endpoints: the token's limits, `servers.use` on the
server, and the caller's view of the catalog (`catalog_views`)."""

from __future__ import annotations

import grpc
import orjson
from switchboard.proxy.v1 import proxy_pb2, proxy_pb2_grpc
from switchboard_core.errors import STATUS, InvalidInput, NotFound, PermissionDenied, SwitchboardError
from switchboard_core.http.forwarded import parse_address
from switchboard_core.principals import PrincipalCache, bearer_token
from switchboard_mcp import versions

from switchboard_proxy import access_rules, catalog_views
from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.forward import final_reply


class ProxyServicer(proxy_pb2_grpc.ProxyServiceServicer):
    def __init__(self, principals: PrincipalCache, dispatcher: Dispatcher) -> None:
        self._principals = principals
        self._dispatcher = dispatcher

    async def _context(self, server_id: str, method: str, ctx: grpc.aio.ServicerContext) -> CallContext:
        """The caller, held to its token's limits as on the MCP endpoints."""
        metadata = dict(ctx.invocation_metadata() or ())
        principal = await self._principals.authenticate(bearer_token(metadata.get("authorization")))
        problem = access_rules.connect_problem(
            principal, server_id, lambda: _peer_address(ctx.peer())
        ) or access_rules.method_problem(principal, {"method": method})
        if problem is not None:
            raise PermissionDenied(
                problem.message, data={"scope": problem.missing_scope} if problem.missing_scope else None
            )
        # `servers.use` is the admitter's to decide, as the bearer gate does for HTTP.
        catalog_views.check_server(principal, await self._dispatcher.catalogs.get(server_id))
        return CallContext(principal, server_id, versions.LATEST)

    async def ListTools(self, request, context):
        call = await self._context(request.server_id, "tools/list", context)
        tools = (await self._dispatcher.view_for(call)).tools
        return proxy_pb2.ListToolsResponse(tools_json=[orjson.dumps(t) for t in tools])

    async def CallTool(self, request, context):
        call = await self._context(request.server_id, "tools/call", context)
        try:
            arguments = orjson.loads(request.arguments_json) if request.arguments_json else None
        except orjson.JSONDecodeError as exc:
            raise InvalidInput("arguments_json is not valid JSON") from exc
        reply = await final_reply(
            await self._dispatcher.handle(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": request.name, "arguments": arguments},
                },
                call,
            )
        )
        if "error" in reply:
            error = _BY_CODE.get(reply["error"]["code"], InvalidInput)
            raise error(reply["error"]["message"], data=reply["error"])
        result = reply["result"]
        return proxy_pb2.CallToolResponse(
            result_json=orjson.dumps(result), is_error=bool(result.get("isError"))
        )


# The dispatcher's JSON-RPC errors that keep their meaning over gRPC (the rest: InvalidInput).
_BY_CODE: dict[int, type[SwitchboardError]] = {STATUS[cls][2]: cls for cls in (PermissionDenied, NotFound)}


def _peer_address(peer: str):
    """The address of a gRPC peer (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`), or None."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    return parse_address(rest.rsplit(":", 1)[0])
