"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoints.

Each MCP endpoint is a protected resource; its metadata lives where RFC 9728 §3.1
puts it, the well-known path inserted before the endpoint's own path:
`/.well-known/oauth-protected-resource/servers/{id}/mcp` describes
`<base>/servers/{id}/mcp`. The bare `/.well-known/oauth-protected-resource` describes
the gateway as a whole (`resource` is the base URL, which every endpoint sits under),
the document an MCP client falls back to. Served without authentication, built from
settings alone (no I/O), cacheable.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.policy import PERMISSIONS

from switchboard_proxy.http_replies import reply

WELL_KNOWN = "/.well-known/oauth-protected-resource"
# The MCP endpoints (and the legacy SSE message path): what may follow WELL_KNOWN.
_ENDPOINT = re.compile(r"/(?:servers/[^/]+/)?(?:mcp|sse|message|rpc)")
_CACHE_FOR_S = 300
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def metadata_url(base: str, endpoint_path: str) -> str:
    """Where the metadata of the endpoint at `endpoint_path` is (quoted: it goes into a
    header, and a path is the client's to choose)."""
    return f"{base}{WELL_KNOWN}{quote(endpoint_path, safe=_PATH_SAFE)}"


class ResourceMetadata:
    """The ASGI app answering GET at WELL_KNOWN and under it."""

    def __init__(self, trust: ProxyTrust, *, authorization_servers: list[str]) -> None:
        self._trust = trust
        self._authorization_servers = list(authorization_servers)
        self._scopes = list(PERMISSIONS)

    def document(self, base: str, endpoint_path: str) -> dict:
        return {
            "resource": f"{base}{quote(endpoint_path, safe=_PATH_SAFE)}",
            "authorization_servers": self._authorization_servers or [base],
            "scopes_supported": self._scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "Switchboard MCP gateway",
        }

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] != "GET":
            return await reply(send, 405, None, [(b"allow", b"GET")])
        endpoint_path = scope["path"].removeprefix(WELL_KNOWN)
        if endpoint_path and not _ENDPOINT.fullmatch(endpoint_path):
            return await reply(send, 404, {"error": "NotFound", "detail": "no such protected resource"})
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        base = self._trust.base_url(scope, headers)
        extra = [
            (b"cache-control", f"public, max-age={_CACHE_FOR_S}".encode()),
            # Public information, fetched by browser-based clients from other origins.
            (b"access-control-allow-origin", b"*"),
        ]
        if not self._trust.fixed_base:
            extra.append((b"vary", b"Host, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Port"))
        await reply(send, 200, self.document(base, endpoint_path), extra)
