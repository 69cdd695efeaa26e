"""Upstream failures, on top of core's `UpstreamError` / `UpstreamUnavailable`."""

from __future__ import annotations

from typing import Any

from switchboard_core.errors import UpstreamError


class UpstreamRPCError(UpstreamError):
    """The upstream answered with a JSON-RPC error; its code/message/data pass through."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.rpc_data = data


class NotStreamableHttp(UpstreamError):
    """The URL refused a Streamable HTTP initialize (404/405): try the legacy HTTP+SSE transport."""
