"""Client side of the gateway: sessions with upstream MCP servers over Streamable HTTP."""

from switchboard_mcp.upstream.errors import UpstreamRPCError
from switchboard_mcp.upstream.pool import HttpClient, UpstreamPool, new_http_client
from switchboard_mcp.upstream.session import UpstreamSession

__all__ = ["HttpClient", "UpstreamPool", "new_http_client", "UpstreamRPCError", "UpstreamSession"]
