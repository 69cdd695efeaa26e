"""MCP protocol versions the gateway speaks, newest first."""

from __future__ import annotations

LATEST = "2025-11-25"
# Session-based Streamable HTTP versions served at /mcp today.
SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26")
# The HTTP+SSE transport's version (`/sse` + `/message`), served only there.
LEGACY_SSE = "2024-11-05"
# Assumed when a client sends no MCP-Protocol-Version header (spec: 2025-03-26).
DEFAULT_NEGOTIATED = "2025-03-26"
# Versions reached through the initialize handshake: an MCP-Protocol-Version header
# naming one of these is a session-era request, anything else a stateless one.
HANDSHAKE = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
# Stateless revisions (no initialize, no session, `server/discover`, per-request
# `_meta` envelope) served at /mcp. Upstreams are spoken to at LATEST, or at one of
# these when they refuse the handshake naming only stateless versions.
STATELESS = ("2026-07-28",)
# What `server/discover` and an unsupported-version error (-32022) name.
ADVERTISED = (*STATELESS, *SUPPORTED)


def negotiate(requested: str | None) -> str:
    """The version to answer an initialize with: the client's if we speak it, else ours."""
    return requested if requested in SUPPORTED else LATEST


# The one session-era version whose clients may send JSON-RPC batches.
BATCHING = "2025-03-26"
