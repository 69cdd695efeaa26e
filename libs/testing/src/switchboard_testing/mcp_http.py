"""A bare Streamable HTTP client (one connection per request, nothing to close) for tests that need to see the wire (status codes,
headers, exact JSON-RPC errors) rather than what an SDK makes of it."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

ACCEPT = "application/json, text/event-stream"


class McpHttp:
    def __init__(self, url: str, token: str | None, *, protocol_version: str = "2025-11-25") -> None:
        self.url = url
        self.protocol_version = protocol_version
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        self._auth = {"authorization": f"Bearer {token}"} if token else {}

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"accept": ACCEPT, "content-type": "application/json", **self._auth}
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
            headers["mcp-protocol-version"] = self.protocol_version
        return headers | extra

    def post_raw(self, content: bytes, **extra: str) -> httpx.Response:
        return httpx.post(self.url, content=content, headers=self.headers(**extra), timeout=30)

    def post(self, message: dict, **extra: str) -> httpx.Response:
        return httpx.post(self.url, json=message, headers=self.headers(**extra), timeout=30)

    def initialize(self) -> dict:
        response = self.post(
            {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": "initialize",
                "params": {
                    "protocolVersion": self.protocol_version,
                    "capabilities": {},
                    "clientInfo": {"name": "switchboard-tests", "version": "0"},
                },
            }
        )
        response.raise_for_status()
        self.session_id = response.headers["mcp-session-id"]
        self.protocol_version = response.json()["result"]["protocolVersion"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
        return response.json()["result"]

    def request(self, method: str, params: dict | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        return self.post(message).json()

    def call_tool(self, name: str, arguments: dict | None = None) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}})


def session_headers(
    token: str, session_id: str | None = None, *, version: str = "2025-11-25"
) -> dict[str, str]:
    """The headers of a Streamable HTTP POST in a session (or opening one, without an id)."""
    headers = {
        "authorization": f"Bearer {token}",
        "accept": ACCEPT,
        "content-type": "application/json",
        "mcp-protocol-version": version,
    }
    return headers | ({"mcp-session-id": session_id} if session_id else {})
