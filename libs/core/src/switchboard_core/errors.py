"""Errors every service shares, and how each crosses a boundary.

    SwitchboardError
    ├── InvalidInput          bad request data          400 / INVALID_ARGUMENT / -32602
    │   ├── Unprocessable     well formed, not allowed  422 / INVALID_ARGUMENT / -32602
    │   └── TooLarge          a body over the limit     413 / RESOURCE_EXHAUSTED / -32600
    ├── Unauthenticated       no or bad credentials     401 / UNAUTHENTICATED  / -32001
    ├── PermissionDenied      authenticated, not allowed 403 / PERMISSION_DENIED / -32003
    ├── NotFound              no such entity            404 / NOT_FOUND        / -32004
    ├── Conflict              already exists            409 / ALREADY_EXISTS   / -32009
    ├── RateLimited           a rate limit is spent     429 / RESOURCE_EXHAUSTED / -32029
    ├── UpstreamError         an upstream failed        502 / UNAVAILABLE      / -32010
    │   ├── UpstreamUnavailable  unreachable / timed out 503 / UNAVAILABLE     / -32011
    │   └── OutboundRefused   the SSRF guard refused its address (as UpstreamError)
    └── DependencyUnavailable another Switchboard service, or Redis, is down
                                                        503 / UNAVAILABLE      / -32603

`STATUS` is the one table mapping each error to its HTTP status, gRPC status code and
JSON-RPC error code. Foreign exceptions are translated at the boundary that meets
them, most specific first, with `raise ... from exc`.
"""

from __future__ import annotations

import grpc


class SwitchboardError(Exception):
    """Base of every error this project raises on purpose."""

    def __init__(self, message: str, *, data: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidInput(SwitchboardError):
    pass


class Unprocessable(InvalidInput):
    """Well-formed data the state of things refuses (a tool made more visible than its gateway)."""


class TooLarge(InvalidInput):
    """A request body over the size limit, refused before it was read whole."""


class Unauthenticated(SwitchboardError):
    pass


class PermissionDenied(SwitchboardError):
    """`permission`, when one decided it, is the permission the caller lacks (for the
    audit log's record of the refused attempt; not sent to the caller)."""

    def __init__(self, message: str, *, data: dict | None = None, permission: str = "") -> None:
        super().__init__(message, data=data)
        self.permission = permission


class NotFound(SwitchboardError):
    pass


class Conflict(SwitchboardError):
    pass


class RateLimited(SwitchboardError):
    """The caller's rate limit is spent (`rate_limits`); HTTP answers carry `Retry-After`."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, data={"retry_after": retry_after_s})
        self.retry_after_s = retry_after_s


class UpstreamError(SwitchboardError):
    pass


class UpstreamUnavailable(UpstreamError):
    pass


class OutboundRefused(UpstreamError):
    """The gateway refuses to connect to that address (`security.outbound`, the SSRF
    guard): registering such an upstream fails with 400, a call to it with a JSON-RPC
    error, and nothing is sent."""


class DependencyUnavailable(SwitchboardError):
    pass


# error type -> (HTTP status, gRPC status code, JSON-RPC code); most specific first.
STATUS: dict[type[SwitchboardError], tuple[int, grpc.StatusCode, int]] = {
    Unprocessable: (422, grpc.StatusCode.INVALID_ARGUMENT, -32602),
    TooLarge: (413, grpc.StatusCode.RESOURCE_EXHAUSTED, -32600),
    InvalidInput: (400, grpc.StatusCode.INVALID_ARGUMENT, -32602),
    Unauthenticated: (401, grpc.StatusCode.UNAUTHENTICATED, -32001),
    PermissionDenied: (403, grpc.StatusCode.PERMISSION_DENIED, -32003),
    NotFound: (404, grpc.StatusCode.NOT_FOUND, -32004),
    Conflict: (409, grpc.StatusCode.ALREADY_EXISTS, -32009),
    RateLimited: (429, grpc.StatusCode.RESOURCE_EXHAUSTED, -32029),
    UpstreamUnavailable: (503, grpc.StatusCode.UNAVAILABLE, -32011),
    UpstreamError: (502, grpc.StatusCode.UNAVAILABLE, -32010),
    DependencyUnavailable: (503, grpc.StatusCode.UNAVAILABLE, -32603),
}
_FALLBACK = (500, grpc.StatusCode.INTERNAL, -32603)


def status_of(error: SwitchboardError) -> tuple[int, grpc.StatusCode, int]:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return _FALLBACK


_FROM_GRPC: dict[grpc.StatusCode, type[SwitchboardError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
}


def from_grpc(exc: grpc.aio.AioRpcError, service: str) -> SwitchboardError:
    """Turn a failed internal call into the error it stands for."""
    cls = _FROM_GRPC.get(exc.code())
    if cls is not None:
        return cls(exc.details() or exc.code().name)
    return DependencyUnavailable(f"{service} service: {exc.code().name}: {exc.details()}")
