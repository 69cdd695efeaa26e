"""Client side of the gateway: sessions with upstream MCP servers over Streamable HTTP
or the legacy HTTP+SSE transport, and sessionless exchanges with upstreams serving
only the stateless revision."""

from switchboard_mcp.upstream.auth import UpstreamAuth, open_auth, seal_credentials
from switchboard_mcp.upstream.credentials import Credentials, parse_credentials
from switchboard_mcp.upstream.errors import NotStreamableHttp, UpstreamRPCError
from switchboard_mcp.upstream.guard import GuardedResolver, literal_address_guard
from switchboard_mcp.upstream.legacy_sse import LegacySseSession
from switchboard_mcp.upstream.pool import (
    PUBLIC_ONLY,
    HttpClient,
    UpstreamClients,
    UpstreamPool,
    new_http_client,
)
from switchboard_mcp.upstream.session import UpstreamSession
from switchboard_mcp.upstream.stateless import StatelessUpstream
from switchboard_mcp.upstream.transport import NegotiatingUpstream, Upstream, open_upstream

__all__ = [
    "PUBLIC_ONLY",
    "Credentials",
    "GuardedResolver",
    "HttpClient",
    "LegacySseSession",
    "NegotiatingUpstream",
    "NotStreamableHttp",
    "StatelessUpstream",
    "Upstream",
    "UpstreamAuth",
    "UpstreamClients",
    "UpstreamPool",
    "UpstreamRPCError",
    "UpstreamSession",
    "literal_address_guard",
    "new_http_client",
    "open_auth",
    "open_upstream",
    "parse_credentials",
    "seal_credentials",
]
