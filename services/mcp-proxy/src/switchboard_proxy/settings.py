"""Settings of the mcp-proxy service (env prefix `SWITCHBOARD_`)."""

from __future__ import annotations

from pydantic import Field
from switchboard_core.settings import ServiceSettings


class ProxySettings(ServiceSettings):
    # Largest MCP request body accepted, in bytes (413 beyond it).
    max_message_bytes: int = 4 * 1024 * 1024
    # Most messages in one JSON-RPC batch (400 beyond it, none of them acted on).
    max_batch_messages: int = Field(default=100, ge=1)
    # Idle MCP sessions are forgotten after this long.
    session_idle_ttl_s: float = 3600.0
    # Sessions (Streamable HTTP and legacy SSE) one user may hold open at once, over all
    # their tokens and replicas: past it, opening one more is answered 429.
    max_sessions_per_user: int = Field(default=100, ge=1)
    # The most JSON an initialize's clientInfo and capabilities may take together: a
    # session keeps them while it lives, so a larger initialize is refused.
    max_session_state_bytes: int = Field(default=16 * 1024, ge=256)
    upstream_timeout_s: float = 30.0
    # How long a call waits on the client's answer to an upstream's request: a stateless
    # client's retry, or a session client's response (the upstream timeout pauses meanwhile).
    input_wait_s: float = 300.0
    # Items per page of tools/list, prompts/list, resources/list (cursor beyond).
    list_page_size: int = 1000
    # Safety net behind the registry's change feed.
    catalog_ttl_s: float = 60.0
    metrics_flush_interval_s: float = 1.0
    metrics_buffer_capacity: int = 50_000
    # Distinct (server, name) pairs `switchboard_mcp_call_duration_seconds` keeps series
    # for (SWITCHBOARD_CALL_METRICS_MAX_SERIES); calls past it are counted under
    # name="_other" (see docs/observability.md). A pair makes 18 series (15 buckets,
    # +Inf, sum, count) for each method and outcome it is seen with.
    call_metrics_max_series: int = Field(default=2000, ge=0)
    # Origins allowed besides loopback ones (DNS-rebinding protection); "*" allows any.
    allowed_origins: list[str] = []
    # The gateway's public base URL (scheme, host, port, any path prefix) as clients reach
    # it: the `resource` of the RFC 9728 metadata and the challenges' `resource_metadata`.
    # Empty: taken from each request (Host, or X-Forwarded-* from a trusted proxy).
    public_url: str = ""
    # Issuer URLs of the authorization servers whose tokens are accepted (RFC 9728
    # `authorization_servers`). Empty: the public base URL (the auth service's routes).
    authorization_servers: list[str] = []
