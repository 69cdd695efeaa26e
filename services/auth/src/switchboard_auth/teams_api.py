"""HTTP face of teams (tag "teams"): translation only, see `domain.teams`."""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# dependency annotations as objects.

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from switchboard_core.http.deps import CurrentPrincipal
from switchboard_core.http.params import Limit, Offset
from switchboard_core.http.refusals import audits

from switchboard_auth.api_models import (
    ChangeMemberRequest,
    CreateTeamRequest,
    MemberInfo,
    PutMemberRequest,
    TeamInfo,
)
from switchboard_auth.domain.teams import Teams
from switchboard_auth.store.teams import MemberRow, TeamRow

_ERRORS = {
    401: {"description": "Missing, invalid, expired or revoked token"},
    403: {"description": "The caller's role in the team does not allow it"},
    404: {"description": "No such team (or not one the caller belongs to)"},
}


def build_teams_router(teams: Callable[[], Teams], route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/auth/teams", tags=["teams"], default_response_class=JSONResponse, route_class=route_class
    )
    TeamsDep = Annotated[Teams, Depends(lambda: teams())]

    @router.post("", status_code=201, responses=_ERRORS, openapi_extra=audits("team.create"))
    async def create_team(body: CreateTeamRequest, caller: CurrentPrincipal, domain: TeamsDep) -> TeamInfo:
        """Make a team; the caller becomes its team_admin."""
        return _team(await domain.create(caller, body.name))

    @router.get("", responses=_ERRORS)
    async def list_teams(
        caller: CurrentPrincipal, domain: TeamsDep, limit: Limit = 100, offset: Offset = 0
    ) -> list[TeamInfo]:
        """The caller's teams (every team, for an administrator), by name."""
        return [_team(t) for t in await domain.visible(caller, limit=limit, offset=offset)]

    @router.get("/{team_id}", responses=_ERRORS)
    async def get_team(team_id: str, caller: CurrentPrincipal, domain: TeamsDep) -> TeamInfo:
        return _team(await domain.get(caller, team_id))

    @router.patch("/{team_id}", responses=_ERRORS, openapi_extra=audits("team.update"))
    async def rename_team(
        team_id: str, body: CreateTeamRequest, caller: CurrentPrincipal, domain: TeamsDep
    ) -> TeamInfo:
        return _team(await domain.rename(caller, team_id, body.name))

    @router.delete(
        "/{team_id}",
        status_code=204,
        response_class=Response,
        responses=_ERRORS,
        openapi_extra=audits("team.delete"),
    )
    async def delete_team(team_id: str, caller: CurrentPrincipal, domain: TeamsDep) -> Response:
        """Remove a team (not a personal one); its members lose what it gave them."""
        await domain.delete(caller, team_id)
        return Response(status_code=204)

    @router.get("/{team_id}/members", responses=_ERRORS)
    async def list_members(
        team_id: str, caller: CurrentPrincipal, domain: TeamsDep, limit: Limit = 100, offset: Offset = 0
    ) -> list[MemberInfo]:
        return [_member(m) for m in await domain.members(caller, team_id, limit=limit, offset=offset)]

    @router.post(
        "/{team_id}/members", status_code=201, responses=_ERRORS, openapi_extra=audits("team.member_add")
    )
    async def add_member(
        team_id: str, body: PutMemberRequest, caller: CurrentPrincipal, domain: TeamsDep
    ) -> MemberInfo:
        """Add a user (by email) with a role, or give a member another role."""
        return _member(await domain.put_member(caller, team_id, email=body.email, role=body.role))

    @router.patch(
        "/{team_id}/members/{user_id}", responses=_ERRORS, openapi_extra=audits("team.member_change")
    )
    async def change_member(
        team_id: str, user_id: str, body: ChangeMemberRequest, caller: CurrentPrincipal, domain: TeamsDep
    ) -> MemberInfo:
        return _member(await domain.change_role(caller, team_id, user_id, body.role))

    @router.delete(
        "/{team_id}/members/{user_id}",
        status_code=204,
        response_class=Response,
        responses=_ERRORS,
        openapi_extra=audits("team.member_remove"),
    )
    async def remove_member(
        team_id: str, user_id: str, caller: CurrentPrincipal, domain: TeamsDep
    ) -> Response:
        await domain.remove_member(caller, team_id, user_id)
        return Response(status_code=204)

    return router


def _team(team: TeamRow) -> TeamInfo:
    return TeamInfo(
        id=team.id, name=team.name, personal=team.personal_of is not None, created_at=team.created_at
    )


def _member(member: MemberRow) -> MemberInfo:
    return MemberInfo(user_id=member.user_id, email=member.email, role=member.role, added_at=member.added_at)
