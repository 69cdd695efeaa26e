"""Sending a gateway's credentials to its upstream: an aiohttp client middleware.

`UpstreamAuth` adds the credentials to every request a session makes to the
upstream's origin (scheme, host, port) and to nothing else, so a redirect or a legacy
SSE endpoint elsewhere never receives them. The client's own token is never among
them: a session's headers are the gateway's, never the client's.

OAuth 2 client credentials: the access token is fetched from the token endpoint with
the pooled, SSRF-guarded client, kept until shortly before it expires, and fetched
again once when the upstream answers 401. Concurrent requests needing a token share
one fetch.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from switchboard_core.errors import OutboundRefused, UpstreamError, UpstreamUnavailable
from switchboard_core.security.sealing import SecretKeys
from yarl import URL

from switchboard_mcp.upstream.credentials import Credentials, OAuth2, parse_credentials

logger = logging.getLogger(__name__)

# A token is renewed this long before it expires (at most a tenth of its lifetime).
RENEW_BEFORE_S = 30.0
# A token endpoint saying nothing about expiry: its tokens are kept this long.
DEFAULT_LIFETIME_S = 300.0
TOKEN_TIMEOUT_S = 10.0


class UpstreamAuth:
    """One gateway's credentials for requests to its upstream at `url`.

    `key` names this gateway's credentials as they stand (a new key when they change):
    sessions and clients are kept per key, so no two credentials ever share one."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        url: str,
        key: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = credentials
        self.key = key
        origin = URL(url)
        self._origin = (origin.scheme, origin.host, origin.port)
        self._oauth = credentials if isinstance(credentials, OAuth2) else None
        self._static = None if self._oauth is not None else credentials.headers()
        self._clock = clock
        self._token_client: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._fetching: asyncio.Task[str] | None = None

    @property
    def kind(self) -> str:
        return self.credentials.kind

    def bind(self, token_client: aiohttp.ClientSession) -> None:
        """The (guarded) client OAuth 2 tokens are fetched with."""
        self._token_client = token_client

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            return await handler(request)
        if self._static is not None:
            request.headers.update(self._static)
            return await handler(request)
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = await handler(request)
        if response.status != 401:
            return response
        # Revoked or expired early: one new token, one more try.
        response.release()
        token = await self.access_token(stale=token)
        request.headers["Authorization"] = f"Bearer {token}"
        return await handler(request)

    async def access_token(self, *, stale: str | None = None) -> str:
        """The OAuth 2 access token: the kept one unless it is `stale` or about to expire."""
        token = self._token
        if token is not None and token != stale and self._clock() < self._expires_at:
            return token
        fetching = self._fetching
        if fetching is None:
            fetching = self._fetching = asyncio.get_running_loop().create_task(self._fetch())
            fetching.add_done_callback(self._fetched)
        return await asyncio.shield(fetching)

    def _fetched(self, task: asyncio.Task[str]) -> None:
        if self._fetching is task:
            self._fetching = None
        if not task.cancelled():
            task.exception()  # each waiter sees it; nobody is left to be told it went unread

    async def _fetch(self) -> str:
        credentials = self._oauth
        if credentials is None or self._token_client is None:
            raise UpstreamError("no HTTP client to fetch OAuth 2 tokens with")
        where = f"the token endpoint {credentials.token_url}"
        # client_secret_basic (RFC 6749 §2.3.1): every server must accept it.
        pair = f"{quote(credentials.client_id, safe='')}:{quote(credentials.client_secret, safe='')}"
        client = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self._token_client.post(
                credentials.token_url,
                data=credentials.token_form(),
                headers={"accept": "application/json", "authorization": client},
                timeout=aiohttp.ClientTimeout(total=TOKEN_TIMEOUT_S),
                allow_redirects=False,
            ) as response:
                status, body = response.status, await response.read()
        except OutboundRefused:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"{where} is unreachable: {type(exc).__name__}") from exc
        try:
            answer = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            answer = {}
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            said = f" ({error})" if isinstance(error, str) else ""
            raise UpstreamError(f"{where} refused the client credentials: HTTP {status}{said}")
        token = answer.get("access_token")
        token_type = answer.get("token_type", "bearer")
        if not isinstance(token, str) or not token or str(token_type).lower() != "bearer":
            raise UpstreamError(f"{where} answered without a bearer access token")
        lifetime = answer.get("expires_in")
        lifetime = (
            float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_LIFETIME_S
        )
        self._token = token
        self._expires_at = self._clock() + lifetime - min(RENEW_BEFORE_S, lifetime / 10)
        return token


def credentials_key(gateway_id: str, sealed: str) -> str:
    """Names a gateway's credentials as sealed now: a new sealing (a change, a rotation)
    is a new key. A digest of the sealed form, so it tells nothing of the secret."""
    return hashlib.sha256(f"{gateway_id}\n{sealed}".encode()).hexdigest()[:32]


def open_auth(sealed: str, *, gateway_id: str, url: str, keys: SecretKeys) -> UpstreamAuth | None:
    """The gateway's credentials from their sealed form (None when it has none).

    Raises core's `SealError` (naming the key id) when no key opens them."""
    if not sealed:
        return None
    data = orjson.loads(keys.unseal(sealed, bound_to=gateway_id))
    return UpstreamAuth(parse_credentials(data), url=url, key=credentials_key(gateway_id, sealed))


def seal_credentials(credentials: Credentials, *, gateway_id: str, keys: SecretKeys) -> str:
    return keys.seal(orjson.dumps(credentials.as_json()), bound_to=gateway_id)
