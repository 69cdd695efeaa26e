"""HTTP face of the audit log (tag "audit"): `GET /auth/audit`, administrators only
(`audit.read`). Translation only, see `domain.audit`."""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# dependency annotations as objects.

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from switchboard_core.audit import AuditEvent
from switchboard_core.http.deps import CurrentPrincipal
from switchboard_core.http.params import Limit, Moment, Offset

from switchboard_auth.api_models import AuditActor, AuditEntry
from switchboard_auth.domain.audit import AuditLog
from switchboard_auth.store.audit import AuditFilter

_ERRORS = {
    400: {"description": "`since` is not before `until`"},
    401: {"description": "Missing, invalid, expired or revoked token"},
    403: {"description": "Not an administrator (or the token's scopes lack audit.read)"},
}
Text = Annotated[str, Query(max_length=320)]


def build_audit_router(audit: Callable[[], AuditLog]) -> APIRouter:
    router = APIRouter(prefix="/auth/audit", tags=["audit"], default_response_class=JSONResponse)
    AuditDep = Annotated[AuditLog, Depends(lambda: audit())]

    @router.get("", responses=_ERRORS)
    async def query_audit(
        caller: CurrentPrincipal,
        domain: AuditDep,
        actor: Annotated[Text, Query(description="A user id or an email.")] = "",
        action: Text = "",
        entity_type: Text = "",
        entity_id: Text = "",
        outcome: Annotated[Text, Query(description="success, or denied: an attempt refused.")] = "",
        since: Annotated[Moment, Query(description="From this time on (inclusive), ISO 8601.")] = None,
        until: Annotated[Moment, Query(description="Before this time, ISO 8601.")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[AuditEntry]:
        """Admin changes and refused attempts, newest first, filtered by who made them, the
        action, the entity, the outcome and a time range."""
        where = AuditFilter(actor, action, entity_type, entity_id, outcome, _utc(since), _utc(until))
        return [_entry(e) for e in await domain.query(caller, where, limit=limit, offset=offset)]

    return router


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # a time without an offset is read as UTC


def _entry(event: AuditEvent) -> AuditEntry:
    return AuditEntry(
        id=event.id,
        at=datetime.fromtimestamp(event.at_ms / 1000, UTC),
        service=event.service,
        actor=AuditActor(user_id=event.actor_user_id, email=event.actor_email, token_id=event.actor_token_id),
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        changes=event.changes,
        client_ip=event.client_ip,
        user_agent=event.user_agent,
        outcome=event.outcome,
    )
