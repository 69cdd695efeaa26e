"""Shared upstream sessions and one pooled HTTP client for the whole process."""

from __future__ import annotations

import aiohttp
from switchboard_core.security.outbound import OutboundPolicy

from switchboard_mcp.upstream.guard import GuardedResolver, Lookup, literal_address_guard
from switchboard_mcp.upstream.silence import ANSWER_WAIT_S
from switchboard_mcp.upstream.transport import NegotiatingUpstream, Upstream

# The upstream HTTP client. aiohttp, not httpx: httpx's pool scans every pooled
# connection on each request (probing each socket), which cost more CPU than the
# rest of a proxied tools/call together.
HttpClient = aiohttp.ClientSession


# Nothing but public addresses: what a client gets unless its caller allows more.
PUBLIC_ONLY = OutboundPolicy()


def new_http_client(
    *, policy: OutboundPolicy = PUBLIC_ONLY, max_connections: int = 512, lookup: Lookup | None = None
) -> HttpClient:
    """A pooled keep-alive client connecting only where `policy` permits (the SSRF
    guard); call it inside the running event loop. `lookup` replaces the system resolver."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        keepalive_timeout=60,
        ttl_dns_cache=60,
        resolver=GuardedResolver(policy, lookup=lookup),
    )
    # No proxy from the environment (trust_env): it would connect where no check looked.
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, middlewares=(literal_address_guard(policy),)
    )


class UpstreamPool:
    """One session per upstream URL, reused across calls (stateless-safe upstreams).

    The transport (Streamable HTTP or legacy HTTP+SSE) is chosen on a URL's first use;
    from then on its session itself is handed out."""

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        policy: OutboundPolicy = PUBLIC_ONLY,
        timeout_s: float = 30.0,
        answer_wait_s: float = ANSWER_WAIT_S,
    ) -> None:
        self.http = http or new_http_client(policy=policy)
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
