"""ProxyService gRPC face: tools for internal callers that do not speak MCP."""

from __future__ import annotations

import grpc
import orjson
from switchboard.proxy.v1 import proxy_pb2, proxy_pb2_grpc
from switchboard_core.errors import InvalidInput
from switchboard_core.principals import PrincipalCache, bearer_token
from switchboard_mcp import versions

from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.forward import final_reply


class ProxyServicer(proxy_pb2_grpc.ProxyServiceServicer):
    def __init__(self, principals: PrincipalCache, dispatcher: Dispatcher) -> None:
        self._principals = principals
        self._dispatcher = dispatcher

    async def _context(self, server_id: str, ctx: grpc.aio.ServicerContext) -> CallContext:
        metadata = dict(ctx.invocation_metadata() or ())
        principal = await self._principals.authenticate(bearer_token(metadata.get("authorization")))
        return CallContext(principal, server_id, versions.LATEST)

    async def ListTools(self, request, context):
        call = await self._context(request.server_id, context)
        tools = (await self._dispatcher.catalogs.get(call.server_id)).tools
        return proxy_pb2.ListToolsResponse(tools_json=[orjson.dumps(t) for t in tools])

    async def CallTool(self, request, context):
        call = await self._context(request.server_id, context)
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
            raise InvalidInput(reply["error"]["message"], data=reply["error"])
        result = reply["result"]
        return proxy_pb2.CallToolResponse(
            result_json=orjson.dumps(result), is_error=bool(result.get("isError"))
        )
