"""Shared upstream sessions and one pooled HTTP client for the whole process."""

from __future__ import annotations

import aiohttp

from switchboard_mcp.upstream.silence import ANSWER_WAIT_S
from switchboard_mcp.upstream.transport import NegotiatingUpstream, Upstream

# The upstream HTTP client. aiohttp, not httpx: httpx's pool scans every pooled
# connection on each request (probing each socket), which cost more CPU than the
# rest of a proxied tools/call together.
HttpClient = aiohttp.ClientSession


def new_http_client(*, max_connections: int = 512) -> HttpClient:
    """A pooled keep-alive client; call it inside the running event loop."""
    connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=60, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class UpstreamPool:
    """One session per upstream URL, reused across calls (stateless-safe upstreams).

    The transport (Streamable HTTP or legacy HTTP+SSE) is chosen on a URL's first use;
    from then on its session itself is handed out."""

    def __init__(
        self, http: HttpClient | None = None, *, timeout_s: float = 30.0, answer_wait_s: float = ANSWER_WAIT_S
    ) -> None:
        self.http = http or new_http_client()
        self._timeout_s = timeout_s
        # How long a call may wait on the client's answer to its upstream's request.
        self.answer_wait_s = answer_wait_s
        self._sessions: dict[str, NegotiatingUpstream] = {}

    def session(self, url: str) -> Upstream | NegotiatingUpstream:
        session = self._sessions.get(url)
        if session is None:
            session = self._sessions[url] = NegotiatingUpstream(
                url, self.http, timeout_s=self._timeout_s, answer_wait_s=self.answer_wait_s
            )
        return session.resolved or session

    def forget(self, url: str) -> None:
        self._sessions.pop(url, None)

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        await self.http.close()
