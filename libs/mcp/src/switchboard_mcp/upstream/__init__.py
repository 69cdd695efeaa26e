"""Client side of the gateway: sessions with upstream MCP servers over Streamable HTTP
or the legacy HTTP+SSE transport, and sessionless exchanges with upstreams serving
only the stateless revision."""

from switchboard_mcp.upstream.errors import NotStreamableHttp, UpstreamRPCError
from switchboard_mcp.upstream.legacy_sse import LegacySseSession
from switchboard_mcp.upstream.pool import HttpClient, UpstreamPool, new_http_client
from switchboard_mcp.upstream.session import UpstreamSession
from switchboard_mcp.upstream.stateless import StatelessUpstream
from switchboard_mcp.upstream.transport import NegotiatingUpstream, Upstream, open_upstream

__all__ = [
    "HttpClient",
    "LegacySseSession",
    "NegotiatingUpstream",
    "NotStreamableHttp",
    "StatelessUpstream",
    "Upstream",
    "UpstreamPool",
    "UpstreamRPCError",
    "UpstreamSession",
    "new_http_client",
    "open_upstream",
]
