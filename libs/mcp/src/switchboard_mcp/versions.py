"""MCP protocol versions the gateway speaks, newest first."""

from __future__ import annotations

LATEST = "2025-11-25"
# Session-based Streamable HTTP versions served at /mcp today.
SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26")
# Assumed when a client sends no MCP-Protocol-Version header (spec: 2025-03-26).
DEFAULT_NEGOTIATED = "2025-03-26"


def negotiate(requested: str | None) -> str:
    """The version to answer an initialize with: the client's if we speak it, else ours."""
    return requested if requested in SUPPORTED else LATEST
