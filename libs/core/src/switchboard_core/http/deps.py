"""FastAPI dependencies shared by every service's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from switchboard_core.errors import PermissionDenied
from switchboard_core.principals import Principal, PrincipalCache, bearer_token
from switchboard_core.rate_limits import RateLimiter


async def current_principal(request: Request) -> Principal:
    """The caller, once its request is counted against its rate limits (429 when spent)."""
    cache: PrincipalCache = request.app.state.principals
    principal = await cache.authenticate(bearer_token(request.headers.get("authorization")))
    limits: RateLimiter | None = getattr(request.app.state, "limits", None)
    if limits is not None:
        limits.check(principal)
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("this action needs an administrator")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
