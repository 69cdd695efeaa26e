"""MCP wire handling: JSON-RPC envelope, protocol versions, SSE framing, upstream client."""
