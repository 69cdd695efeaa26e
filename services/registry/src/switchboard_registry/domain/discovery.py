"""Asking an upstream MCP server which tools it has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from switchboard_core.errors import UpstreamError
from switchboard_mcp.upstream import HttpClient, UpstreamRPCError, UpstreamSession


@dataclass(frozen=True, slots=True)
class Discovery:
    server_info: dict[str, Any]
    # Upstream tool name → the upstream's whole Tool object as JSON text.
    definitions: dict[str, str]


async def discover(http: HttpClient, url: str, *, timeout_s: float) -> Discovery:
    """One short session: initialize, list every tool, end the session.

    Raises core `UpstreamUnavailable` (unreachable, timed out) or `UpstreamError`
    (not MCP, a JSON-RPC error, or a malformed tool list).
    """
    session = UpstreamSession(url, http, timeout_s=timeout_s)
    try:
        listed = await session.list_tools()
    finally:
        await session.close()
    return Discovery(dict(session.server_info), _definitions(url, listed))


def reason(url: str, error: UpstreamError) -> str:
    """Why talking to the upstream failed, for a person to read."""
    if isinstance(error, UpstreamRPCError):
        return f"upstream {url} answered with JSON-RPC error {error.code}: {error.message}"
    return error.message


def _definitions(url: str, listed: list[Any]) -> dict[str, str]:
    definitions: dict[str, str] = {}
    for tool in listed:
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not name:
            raise UpstreamError(f"upstream {url} listed a tool without a name")
        if name in definitions:
            raise UpstreamError(f"upstream {url} listed the tool {name!r} twice")
        definitions[name] = orjson.dumps(tool).decode()
    return definitions
