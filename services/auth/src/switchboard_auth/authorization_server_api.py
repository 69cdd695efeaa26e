"""The OAuth 2.0 authorization-server metadata (RFC 8414) that MCP clients find through
the protected-resource metadata's `authorization_servers` (tag "auth").

It says only what is true of this service: who issues the tokens and where the keys
verifying them are. It offers no OAuth flow (tokens are minted by POST /auth/login and
POST /auth/tokens), so there is no authorization or token endpoint and the supported
response and grant types are empty. Built from settings and the request alone (no I/O),
served without authentication, cacheable.
"""

from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.policy import PERMISSIONS

from switchboard_auth.settings import AuthSettings

AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/auth/jwks.json"
_CACHE_FOR_S = 300


def build_metadata_router(settings: AuthSettings) -> APIRouter:
    router = APIRouter(tags=["auth"], default_response_class=JSONResponse)
    trust = ProxyTrust(settings.trusted_proxies, public_url=settings.public_url)
    issuer = settings.token_issuer if urlsplit(settings.token_issuer).scheme in ("http", "https") else ""
    issuer_path = urlsplit(issuer).path.rstrip("/")

    async def metadata(request: Request, response: Response) -> dict:
        base = trust.base_url(request.scope, {k.lower(): v for k, v in request.headers.items()})
        response.headers["Cache-Control"] = f"public, max-age={_CACHE_FOR_S}"
        response.headers["Access-Control-Allow-Origin"] = "*"
        if not trust.fixed_base:
            response.headers["Vary"] = "Host, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Port"
        return {
            # RFC 8414 §3.3: the issuer the well-known path was put after. Without a URL
            # issuer configured, that is the base URL the client used.
            "issuer": issuer or base,
            "jwks_uri": base + JWKS_PATH,
            "scopes_supported": list(PERMISSIONS),
            "response_types_supported": [],
            "grant_types_supported": [],
        }

    # RFC 8414 §3.1: an issuer with a path has its metadata at the well-known path + that path.
    router.add_api_route(
        AS_WELL_KNOWN + issuer_path,
        metadata,
        methods=["GET"],
        summary="Authorization-server metadata (RFC 8414)",
    )
    return router
