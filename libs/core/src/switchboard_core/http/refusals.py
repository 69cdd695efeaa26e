"""Refused admin attempts, recorded in one place for all of a service's admin routes.

Every route of a router built with `route_class=refusals_recorded(...)` that changes
something (POST, PUT, PATCH, DELETE) names the audit action it stands for,
`openapi_extra=audits("gateway.delete")` (the OpenAPI document shows it as
`x-audit-action`); building one that does not fails, so no admin route goes unnamed.
When such a route is refused with 403 (the caller may not) or 404 (a target they do not
see, or that does not exist), the attempt is recorded through the service's `Refusals`
with outcome `denied`: who (the signed-in caller), the action, the entity its path names
(the first path parameter), why, and from where. What a route changes is recorded by
the domain, in the transaction making the change; bad input (400, 422), conflicts (409)
and callers not signed in (401) are not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from switchboard_core.audit import set_origin
from switchboard_core.audit_refusals import Refusals
from switchboard_core.errors import NotFound, PermissionDenied
from switchboard_core.http.deps import origin_of

logger = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDIT_ACTION = "x-audit-action"


def audits(action: str) -> dict[str, Any]:
    """The `openapi_extra` of a route standing for the audit action `action`."""
    return {AUDIT_ACTION: action}


def audit_action(route: APIRoute) -> str:
    return (route.openapi_extra or {}).get(AUDIT_ACTION, "")


def refusals_recorded(refusals: Callable[[], Refusals]) -> type[APIRoute]:
    """A route class recording its refusals through `refusals()` (read per refusal, so
    routers can be built before the service starts)."""

    class RefusalsRecorded(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()
            if not self.methods & MUTATING:
                return handler
            action = audit_action(self)
            if not action:
                raise ValueError(
                    f"{'/'.join(sorted(self.methods))} {self.path} changes things: "
                    "name the audit action it stands for (openapi_extra=audits(...))"
                )

            async def recording(request: Request) -> Response:
                try:
                    return await handler(request)
                except (PermissionDenied, NotFound) as refusal:
                    await _record(refusals, request, action, refusal)
                    raise

            return recording

    return RefusalsRecorded


async def _record(
    refusals: Callable[[], Refusals], request: Request, action: str, refusal: PermissionDenied | NotFound
) -> None:
    caller = getattr(request.state, "principal", None)
    if caller is None:
        return  # refused before anyone was signed in: no one to name
    set_origin(origin_of(request))
    target = next(iter(request.path_params.values()), "")
    permission = refusal.permission if isinstance(refusal, PermissionDenied) else ""
    try:
        await refusals().refused(
            caller, action, str(target)[:200], reason=refusal.message, permission=permission
        )
    except Exception:
        # The refusal is answered whether or not its record could be written.
        logger.exception("recording a refused %s failed", action)
