"""Service-to-service calls carry the deployment's internal token.

The internal gRPC APIs (auth's Authenticate and audit intake, the registry's catalog,
metrics ingest) answer only a caller that sends the token in `x-switchboard-internal`:
without it anybody who can reach a gRPC port could read every private catalog entry,
write the audit log or forge metrics. Open to anyone stay the health service (probes)
and the proxy's CallTool/ListTools, whose callers bring their own bearer token.

Every service of one deployment is given the same `SWITCHBOARD_INTERNAL_TOKEN`
(`switchboard_core.internal_token`: a list while it is replaced). An embedded gateway (one
process, no peer elsewhere) makes one of its own at start.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

import grpc

from switchboard_core.internal_token import METADATA_KEY, accepted, sent

__all__ = ["METADATA_KEY", "accepted", "carries", "is_open", "refusing", "sent"]

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/switchboard.proxy.v1.ProxyService/")
REFUSED = "this internal gRPC API needs the deployment's internal token (SWITCHBOARD_INTERNAL_TOKEN)"


def is_open(method: str) -> bool:
    return method.startswith(OPEN_PREFIXES)


def carries(metadata: Iterable[tuple[str, str | bytes]] | None, tokens: tuple[bytes, ...]) -> bool:
    """Whether call metadata holds one of `tokens` (each compared in constant time)."""
    for key, value in metadata or ():
        if key == METADATA_KEY:
            given = value if isinstance(value, bytes) else value.encode()
            return any([hmac.compare_digest(given, token) for token in tokens])
    return False


def refusing(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that answers UNAUTHENTICATED."""

    async def refuse(_request, ctx: grpc.aio.ServicerContext):
        await ctx.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)

    async def refuse_stream(_request, ctx: grpc.aio.ServicerContext):
        await ctx.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)
        yield  # pragma: no cover - abort raises

    shapes = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }
    for shape, make in shapes.items():
        if getattr(handler, shape):
            behaviour = refuse_stream if shape.endswith("_stream") else refuse
            return make(
                behaviour,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    raise ValueError("a gRPC method handler of no known shape")
