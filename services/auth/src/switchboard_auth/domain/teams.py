"""Teams: made by any user (who becomes its team admin), managed by its team admins.

Every change to who belongs where, or with which role, is announced like a
revocation naming the user alone: cached principals of theirs are dropped on every
replica and fetched again with their new memberships.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from switchboard_core.policy import BUILTIN_ROLES, TEAM_ROLES, Target, decide
from switchboard_core.principals import Principal

from switchboard_auth.domain.audit import record
from switchboard_auth.domain.memberships import memberships
from switchboard_auth.domain.revocations import Revocation
from switchboard_auth.domain.shared_revocations import SharedRevocations
from switchboard_auth.domain.users import normalize_email
from switchboard_auth.store.roles import role_by_name
from switchboard_auth.store.teams import (
    MemberRow,
    TeamRow,
    count_with_role,
    delete_team,
    insert_team,
    list_teams,
    members_of,
    put_member,
    remove_member,
    rename_team,
    role_in,
    team_by_id,
)
from switchboard_auth.store.users import user_by_email, user_by_id

MAX_TEAM_NAME_LENGTH = 200
TEAM_ADMIN = "team_admin"


class Teams:
    def __init__(
        self, sessions: async_sessionmaker, revocations: SharedRevocations, *, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._revocations = revocations
        self._clock = clock

    async def create(self, actor: Principal, name: str) -> TeamRow:
        team = TeamRow(
            id=str(uuid.uuid4()), name=_team_name(name), personal_of=None, created_at=self._clock()
        )
        async with self._sessions.begin() as session:
            await insert_team(session, team)
            await put_member(session, team.id, actor.user_id, TEAM_ADMIN, team.created_at)
            await record(session, actor, "team.create", "team", team.id, {"name": team.name})
        await self._changed(actor.user_id)
        return team

    async def visible(self, actor: Principal, *, limit: int, offset: int) -> list[TeamRow]:
        """Every team for an administrator, else the caller's own."""
        async with self._sessions() as session:
            member = None if actor.is_admin else actor.user_id
            return await list_teams(session, member=member, limit=limit, offset=offset)

    async def get(self, actor: Principal, team_id: str) -> TeamRow:
        return await self._team(actor, team_id, "teams.read")

    async def rename(self, actor: Principal, team_id: str, name: str) -> TeamRow:
        team = await self._team(actor, team_id, "teams.manage")
        if team.personal_of is not None:
            raise InvalidInput("a personal team keeps its name")
        async with self._sessions.begin() as session:
            await rename_team(session, team_id, _team_name(name))
            await record(
                session, actor, "team.update", "team", team_id, {"name": [team.name, _team_name(name)]}
            )
        return TeamRow(team.id, _team_name(name), None, team.created_at)

    async def delete(self, actor: Principal, team_id: str) -> None:
        team = await self._team(actor, team_id, "teams.manage")
        if team.personal_of is not None:
            raise InvalidInput("a personal team goes only with its user")
        async with self._sessions.begin() as session:
            members = await members_of(session, team_id, limit=100_000, offset=0)
            await delete_team(session, team_id)
            await record(session, actor, "team.delete", "team", team_id, {"name": team.name})
        await self._changed(*(m.user_id for m in members))

    async def members(self, actor: Principal, team_id: str, *, limit: int, offset: int) -> list[MemberRow]:
        await self._team(actor, team_id, "teams.read")
        async with self._sessions() as session:
            return await members_of(session, team_id, limit=limit, offset=offset)

    async def put_member(self, actor: Principal, team_id: str, *, email: str, role: str) -> MemberRow:
        """Adds the user with that email to the team, or gives them `role` there."""
        async with self._sessions() as session:
            user = await user_by_email(session, normalize_email(email))
        if user is None:
            raise NotFound(f"no user with email {email!r}")
        return await self._put(actor, team_id, user.id, user.email, role, adding=True)

    async def change_role(self, actor: Principal, team_id: str, user_id: str, role: str) -> MemberRow:
        async with self._sessions() as session:
            user = await user_by_id(session, user_id)
        if user is None:
            raise NotFound(f"{user_id!r} is not a member of this team")
        return await self._put(actor, team_id, user.id, user.email, role, adding=False)

    async def _put(
        self, actor: Principal, team_id: str, user_id: str, email: str, role: str, *, adding: bool
    ) -> MemberRow:
        team = await self._team(actor, team_id, "teams.manage")
        if team.personal_of is not None:
            raise InvalidInput("a personal team has its user only")
        now = self._clock()
        async with self._sessions.begin() as session:
            await self._check_role(session, role)
            held = await role_in(session, team_id, user_id)
            if held is None and not adding:
                raise NotFound(f"{user_id!r} is not a member of this team")
            if held == TEAM_ADMIN and role != TEAM_ADMIN:
                await self._keep_an_admin(session, team_id)
            await put_member(session, team_id, user_id, role, now)
            action = "team.member_add" if held is None else "team.member_change"
            changes = {"user_id": user_id, "email": email, "role": [held, role] if held else role}
            await record(session, actor, action, "team", team_id, changes)
        await self._changed(user_id)
        return MemberRow(user_id, email, role, now)

    async def remove_member(self, actor: Principal, team_id: str, user_id: str) -> None:
        team = await self._team(actor, team_id, "teams.manage")
        if team.personal_of is not None:
            raise InvalidInput("a personal team keeps its user")
        async with self._sessions.begin() as session:
            held = await role_in(session, team_id, user_id)
            if held is None:
                raise NotFound(f"{user_id!r} is not a member of this team")
            if held == TEAM_ADMIN:
                await self._keep_an_admin(session, team_id)
            await remove_member(session, team_id, user_id)
            await record(
                session, actor, "team.member_remove", "team", team_id, {"user_id": user_id, "role": held}
            )
        await self._changed(user_id)

    async def _team(self, actor: Principal, team_id: str, permission: str) -> TeamRow:
        async with self._sessions() as session:
            team = await team_by_id(session, team_id)
            # Decided on what the database says now, not on the caller's cached principal,
            # which may predate a change of theirs made a moment ago.
            actor = replace(actor, memberships=await memberships(session, actor.user_id))
        decision = decide(actor, permission, Target(team_id=team_id))
        if team is None or (not decision and permission == "teams.read"):
            # Outsiders learn nothing of a team, not even that it exists.
            raise NotFound(f"no team {team_id!r}")
        if not decision:
            raise PermissionDenied(decision.reason, permission=permission)
        return team

    @staticmethod
    async def _check_role(session, role: str) -> None:
        if role in BUILTIN_ROLES:
            if role not in TEAM_ROLES:
                raise InvalidInput(
                    f"{role!r} is not a team role (platform administrators are users with is_admin)"
                )
        elif await role_by_name(session, role) is None:
            raise InvalidInput(f"no role {role!r}: built-in team roles are {', '.join(TEAM_ROLES)}")

    @staticmethod
    async def _keep_an_admin(session, team_id: str) -> None:
        if await count_with_role(session, team_id, TEAM_ADMIN) <= 1:
            raise Conflict("a team keeps at least one team_admin")

    async def _changed(self, *user_ids: str) -> None:
        for user_id in dict.fromkeys(user_ids):
            await self._revocations.announce(Revocation(token_id="", user_id=user_id))


def _team_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_TEAM_NAME_LENGTH:
        raise InvalidInput(f"team names have 1 to {MAX_TEAM_NAME_LENGTH} characters")
    if name.endswith("(personal)"):
        raise InvalidInput("names ending in '(personal)' are kept for personal teams")
    return name
