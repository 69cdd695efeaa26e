"""A user's teams as a principal carries them: each with the role held there and the
permissions that role grants (built-in roles from code, custom ones from the database)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.policy import BUILTIN_ROLES, Membership

from switchboard_auth.store.roles import roles_named
from switchboard_auth.store.teams import memberships_of


async def memberships(session: AsyncSession, user_id: str) -> tuple[Membership, ...]:
    held = await memberships_of(session, user_id)
    custom = await roles_named(session, {role for _, role in held if role not in BUILTIN_ROLES})
    return tuple(
        Membership(
            team_id,
            role,
            BUILTIN_ROLES[role]
            if role in BUILTIN_ROLES
            else custom[role].permissions
            if role in custom
            else frozenset(),
        )
        for team_id, role in held
    )
