"""FastAPI dependencies shared by every service's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from switchboard_core.audit import Origin, set_origin
from switchboard_core.errors import PermissionDenied
from switchboard_core.http.contract import BEARER
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.principals import Principal, PrincipalCache, bearer_token
from switchboard_core.rate_limits import RateLimiter

_NO_PROXIES = ProxyTrust([])


async def current_principal(request: Request, _declared: Annotated[None, Security(BEARER)]) -> Principal:
    """The caller, once its request is counted against its rate limits (429 when spent);
    who it is and where the request came from are noted for the audit log (the caller
    as `request.state.principal`, read when the request is refused: `http.refusals`)."""
    cache: PrincipalCache = request.app.state.principals
    principal = await cache.authenticate(bearer_token(request.headers.get("authorization")))
    limits: RateLimiter | None = getattr(request.app.state, "limits", None)
    if limits is not None:
        limits.check(principal)
    set_origin(origin_of(request))
    request.state.principal = principal
    return principal


async def note_origin(request: Request) -> None:
    """For a route no one signs in to (a login) whose outcome is audited all the same."""
    set_origin(origin_of(request))


def origin_of(request: Request) -> Origin:
    trust: ProxyTrust = getattr(request.app.state, "trust", None) or _NO_PROXIES
    address = trust.client_address(request.scope, request.headers)
    return Origin("" if address is None else str(address), request.headers.get("user-agent", ""))


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("this action needs an administrator")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
