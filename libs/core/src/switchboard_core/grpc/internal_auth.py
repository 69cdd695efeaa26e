"""Service-to-service calls carry the deployment's internal token.

The internal gRPC APIs (auth's Authenticate and audit intake, the registry's catalog,
metrics ingest) answer only a caller that sends the token in `x-switchboard-internal`:
without it anybody who can reach a gRPC port could read every private catalog entry,
write the audit log or forge metrics. Open to anyone stay the health service (probes)
and the proxy's CallTool/ListTools, whose callers bring their own bearer token.

Every service of one deployment is given the same `SWITCHBOARD_INTERNAL_TOKEN`. An
embedded gateway (one process, no peer elsewhere) makes one of its own at start. The
setting may list several, comma-separated: the first is sent, any is accepted, so a
token is replaced without downtime (`old,new` everywhere, then `new,old`, then `new`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

import grpc

METADATA_KEY = "x-switchboard-internal"
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/switchboard.proxy.v1.ProxyService/")
MIN_LENGTH = 32
REFUSED = "this internal gRPC API needs the deployment's internal token (SWITCHBOARD_INTERNAL_TOKEN)"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sent(credential: str) -> str:
    """The token a service sends: the first of the setting's list."""
    return credential.split(",")[0].strip()


def accepted(credential: str) -> tuple[bytes, ...]:
    """The tokens a service accepts: every one the setting lists."""
    return tuple(token.strip().encode() for token in credential.split(",") if token.strip())


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
