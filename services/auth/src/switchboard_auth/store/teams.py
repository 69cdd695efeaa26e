"""Queries on `teams` and `team_members`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_auth.store.tables import team_members, teams, users


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: str
    name: str
    personal_of: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: str
    email: str
    role: str
    added_at: datetime


_TEAM = (teams.c.id, teams.c.name, teams.c.personal_of, teams.c.created_at)


async def insert_team(session: AsyncSession, team: TeamRow) -> None:
    """Adds a team; `Conflict` when the name is taken."""
    try:
        async with session.begin_nested():
            await session.execute(
                insert(teams).values(
                    id=team.id, name=team.name, personal_of=team.personal_of, created_at=team.created_at
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"a team named {team.name!r} already exists") from exc


async def rename_team(session: AsyncSession, team_id: str, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.execute(update(teams).where(teams.c.id == team_id).values(name=name))
    except IntegrityError as exc:
        raise Conflict(f"a team named {name!r} already exists") from exc


async def delete_team(session: AsyncSession, team_id: str) -> None:
    await session.execute(delete(team_members).where(team_members.c.team_id == team_id))
    await session.execute(delete(teams).where(teams.c.id == team_id))


async def team_by_id(session: AsyncSession, team_id: str) -> TeamRow | None:
    row = (await session.execute(select(*_TEAM).where(teams.c.id == team_id))).first()
    return TeamRow(*row) if row else None


async def list_teams(session: AsyncSession, *, member: str | None, limit: int, offset: int) -> list[TeamRow]:
    """Every team (`member=None`), or the teams `member` belongs to; by name."""
    query = select(*_TEAM)
    if member is not None:
        query = query.join(team_members, team_members.c.team_id == teams.c.id).where(
            team_members.c.user_id == member
        )
    rows = await session.execute(query.order_by(teams.c.name, teams.c.id).limit(limit).offset(offset))
    return [TeamRow(*row) for row in rows]


async def put_member(session: AsyncSession, team_id: str, user_id: str, role: str, now: datetime) -> None:
    """Adds `user_id` to the team with `role`, or changes the role they hold there."""
    changed = await session.execute(
        update(team_members)
        .where(team_members.c.team_id == team_id, team_members.c.user_id == user_id)
        .values(role=role)
    )
    if changed.rowcount == 0:
        await session.execute(
            insert(team_members).values(team_id=team_id, user_id=user_id, role=role, added_at=now)
        )


async def remove_member(session: AsyncSession, team_id: str, user_id: str) -> bool:
    gone = await session.execute(
        delete(team_members).where(team_members.c.team_id == team_id, team_members.c.user_id == user_id)
    )
    return gone.rowcount > 0


async def members_of(session: AsyncSession, team_id: str, *, limit: int, offset: int) -> list[MemberRow]:
    rows = await session.execute(
        select(team_members.c.user_id, users.c.email, team_members.c.role, team_members.c.added_at)
        .join(users, users.c.id == team_members.c.user_id)
        .where(team_members.c.team_id == team_id)
        .order_by(users.c.email)
        .limit(limit)
        .offset(offset)
    )
    return [MemberRow(*row) for row in rows]


async def role_in(session: AsyncSession, team_id: str, user_id: str) -> str | None:
    return await session.scalar(
        select(team_members.c.role).where(
            team_members.c.team_id == team_id, team_members.c.user_id == user_id
        )
    )


async def count_with_role(session: AsyncSession, team_id: str, role: str) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(team_members)
        .where(team_members.c.team_id == team_id, team_members.c.role == role)
    )


async def memberships_of(session: AsyncSession, user_id: str) -> list[tuple[str, str]]:
    """(team id, role) of every team the user belongs to."""
    rows = await session.execute(
        select(team_members.c.team_id, team_members.c.role)
        .where(team_members.c.user_id == user_id)
        .order_by(team_members.c.team_id)
    )
    return [(team_id, role) for team_id, role in rows]


async def personal_team_of(session: AsyncSession, user_id: str) -> str:
    """The id of the user's personal team ("" if they have none yet)."""
    return await session.scalar(select(teams.c.id).where(teams.c.personal_of == user_id)) or ""


async def holders_of_role(session: AsyncSession, role: str) -> list[str]:
    """Users holding `role` in some team (their cached principals change with it)."""
    rows = await session.execute(select(team_members.c.user_id).where(team_members.c.role == role).distinct())
    return list(rows.scalars())
