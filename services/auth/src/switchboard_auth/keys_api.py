"""HTTP face of the signing keys (tag "keys"): list, rotate and retire them
(administrators only; never the private halves). Translation only, see
`domain.signing_keys`."""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# dependency annotations as objects.

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from switchboard_core.http.deps import AdminPrincipal
from switchboard_core.http.refusals import audits

from switchboard_auth.api_models import RotateKeyRequest, SigningKeyInfo
from switchboard_auth.domain.signing_keys import KeyRing, KeyView

_ERRORS = {
    401: {"description": "Missing, invalid, expired or revoked token"},
    403: {"description": "Not an administrator"},
}


def build_keys_router(keys: Callable[[], KeyRing], route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/auth/keys", tags=["keys"], default_response_class=JSONResponse, route_class=route_class
    )
    KeysDep = Annotated[KeyRing, Depends(lambda: keys())]

    @router.get("", responses=_ERRORS)
    async def list_keys(caller: AdminPrincipal, ring: KeysDep) -> list[SigningKeyInfo]:
        """Every signing key of the configured algorithm with its state, oldest first."""
        return [_info(view) for view in await ring.views()]

    @router.post(
        "/rotate",
        status_code=201,
        responses={**_ERRORS, 409: {"description": "HS256 in use"}},
        openapi_extra=audits("signing_key.rotate"),
    )
    async def rotate(
        caller: AdminPrincipal, ring: KeysDep, body: RotateKeyRequest | None = None
    ) -> SigningKeyInfo:
        """Add a key: published in the JWKS now, signing after the publish delay; the
        keys before it verify their tokens until those are over, then retire."""
        delay = (
            None if body is None or body.publish_delay_s is None else timedelta(seconds=body.publish_delay_s)
        )
        return _info(await ring.rotate(delay, by=caller))

    @router.post(
        "/{kid}/retire",
        status_code=204,
        response_class=Response,
        responses={**_ERRORS, 404: {"description": "No such active key"}, 409: {"description": "It signs"}},
        openapi_extra=audits("signing_key.retire"),
    )
    async def retire(kid: str, caller: AdminPrincipal, ring: KeysDep) -> Response:
        """Retire a key now (a compromised one): every token it signed is refused from then on."""
        await ring.retire(kid, by=caller)
        return Response(status_code=204)

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
