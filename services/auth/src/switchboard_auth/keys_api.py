"""HTTP face of the signing keys (tag "keys"): list, rotate and retire them
(administrators only; never the private halves), and the OAuth 2.0 authorization-server
metadata (RFC 8414) that MCP clients find through the protected-resource metadata.

The metadata says only what is true of this service: who issues the tokens (the issuer
that RFC 9728's `authorization_servers` names) and where the keys verifying them are.
It offers no OAuth flow (tokens are minted by POST /auth/login and /auth/tokens), so
there is no authorization or token endpoint and the supported response and grant
types are empty.
"""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# dependency annotations as objects.

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from switchboard_core.http.deps import AdminPrincipal
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.policy import PERMISSIONS

from switchboard_auth.api_models import RotateKeyRequest, SigningKeyInfo
from switchboard_auth.domain.signing_keys import KeyRing, KeyView
from switchboard_auth.settings import AuthSettings

AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/auth/jwks.json"
_ERRORS = {
    401: {"description": "Missing, invalid, expired or revoked token"},
    403: {"description": "Not an administrator"},
}
_CACHE_FOR_S = 300


def build_keys_router(keys: Callable[[], KeyRing]) -> APIRouter:
    router = APIRouter(prefix="/auth/keys", tags=["keys"], default_response_class=JSONResponse)
    KeysDep = Annotated[KeyRing, Depends(lambda: keys())]

    @router.get("", responses=_ERRORS)
    async def list_keys(caller: AdminPrincipal, ring: KeysDep) -> list[SigningKeyInfo]:
        """Every signing key of the configured algorithm with its state, oldest first."""
        return [_info(view) for view in await ring.views()]

    @router.post("/rotate", status_code=201, responses={**_ERRORS, 409: {"description": "HS256 in use"}})
    async def rotate(
        caller: AdminPrincipal, ring: KeysDep, body: RotateKeyRequest | None = None
    ) -> SigningKeyInfo:
        """Add a key: published in the JWKS now, signing after the publish delay; the
        keys before it verify their tokens until those are over, then retire."""
        delay = (
            None if body is None or body.publish_delay_s is None else timedelta(seconds=body.publish_delay_s)
        )
        return _info(await ring.rotate(delay))

    @router.post(
        "/{kid}/retire",
        status_code=204,
        response_class=Response,
        responses={**_ERRORS, 404: {"description": "No such active key"}, 409: {"description": "It signs"}},
    )
    async def retire(kid: str, caller: AdminPrincipal, ring: KeysDep) -> Response:
        """Retire a key now (a compromised one): every token it signed is refused from then on."""
        await ring.retire(kid)
        return Response(status_code=204)

    return router


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


def _info(view: KeyView) -> SigningKeyInfo:
    return SigningKeyInfo(
        kid=view.kid,
        alg=view.alg,
        state=view.state,
        created_at=view.created_at,
        signs_from=view.signs_from,
        retired_at=view.retired_at,
        public_jwk=view.public_jwk,
    )
