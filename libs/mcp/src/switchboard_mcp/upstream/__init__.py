"""Client side of the gateway: sessions with upstream MCP servers over Streamable HTTP."""

from switchboard_mcp.upstream.errors import UpstreamRPCError
from switchboard_mcp.upstream.pool import UpstreamPool
from switchboard_mcp.upstream.session import UpstreamSession

__all__ = ["UpstreamPool", "UpstreamRPCError", "UpstreamSession"]
