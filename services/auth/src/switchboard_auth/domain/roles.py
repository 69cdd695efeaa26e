"""Roles: the built-in ones (switchboard_core.policy) and custom team roles.

A custom role is a named set of team permissions that team admins can hand out like a
built-in one; platform permissions stay with administrators. Only administrators
make, change and remove custom roles. A change reaches every holder's cached
principals (announced like a revocation of each holder); a role still held is not
removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from switchboard_core.policy import BUILTIN_ROLES, PLATFORM_PERMISSIONS, decide, unknown_permissions
from switchboard_core.principals import Principal

from switchboard_auth.domain.audit import record
from switchboard_auth.domain.revocations import Revocation
from switchboard_auth.domain.shared_revocations import SharedRevocations
from switchboard_auth.store.roles import (
    RoleRow,
    delete_role,
    insert_role,
    list_roles,
    role_by_name,
    update_role,
)
from switchboard_auth.store.teams import holders_of_role

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
MAX_DESCRIPTION_LENGTH = 500


@dataclass(frozen=True, slots=True)
class RoleView:
    name: str
    description: str
    permissions: frozenset[str]
    builtin: bool


class Roles:
    def __init__(
        self, sessions: async_sessionmaker, revocations: SharedRevocations, *, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._revocations = revocations
        self._clock = clock

    async def all(self) -> list[RoleView]:
        builtin = [
            RoleView(name, "built-in", permissions, True) for name, permissions in BUILTIN_ROLES.items()
        ]
        async with self._sessions() as session:
            custom = await list_roles(session)
        return builtin + [RoleView(r.name, r.description, r.permissions, False) for r in custom]

    async def create(self, actor: Principal, name: str, description: str, permissions: list[str]) -> RoleView:
        _require(actor)
        if name in BUILTIN_ROLES:
            raise Conflict(f"{name!r} is a built-in role")
        if not ROLE_NAME.match(name):
            raise InvalidInput("role names are 2 to 64 of a-z, 0-9, '_', '.', '-', starting with a letter")
        row = RoleRow(name, _description(description), _permissions(permissions), self._clock())
        async with self._sessions.begin() as session:
            await insert_role(session, row)
            await record(
                session, actor, "role.create", "role", name, _summary(row.description, row.permissions)
            )
        return RoleView(row.name, row.description, row.permissions, False)

    async def update(self, actor: Principal, name: str, description: str, permissions: list[str]) -> RoleView:
        _require(actor)
        if name in BUILTIN_ROLES:
            raise InvalidInput(f"{name!r} is a built-in role: it cannot be changed")
        granted = _permissions(permissions)
        async with self._sessions.begin() as session:
            if await role_by_name(session, name) is None:
                raise NotFound(f"no role {name!r}")
            await update_role(session, name, description=_description(description), permissions=granted)
            await record(
                session, actor, "role.update", "role", name, _summary(_description(description), granted)
            )
            holders = await holders_of_role(session, name)
        for user_id in holders:
            await self._revocations.announce(Revocation(token_id="", user_id=user_id))
        return RoleView(name, _description(description), granted, False)

    async def delete(self, actor: Principal, name: str) -> None:
        _require(actor)
        if name in BUILTIN_ROLES:
            raise InvalidInput(f"{name!r} is a built-in role: it cannot be removed")
        async with self._sessions.begin() as session:
            if await role_by_name(session, name) is None:
                raise NotFound(f"no role {name!r}")
            if holders := await holders_of_role(session, name):
                raise Conflict(f"the role {name!r} is still held by {len(holders)} user(s)")
            await delete_role(session, name)
            await record(session, actor, "role.delete", "role", name)


def _summary(description: str, permissions: frozenset[str]) -> dict:
    return {"description": description, "permissions": sorted(permissions)}


def _require(actor: Principal) -> None:
    decision = decide(actor, "roles.manage")
    if not decision:
        raise PermissionDenied(decision.reason, permission="roles.manage")


def _description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"descriptions have at most {MAX_DESCRIPTION_LENGTH} characters")
    return description


def _permissions(permissions: list[str]) -> frozenset[str]:
    if unknown := unknown_permissions(permissions):
        raise InvalidInput(f"unknown permissions: {', '.join(unknown)} (GET /auth/permissions lists them)")
    if platform := sorted(set(permissions) & PLATFORM_PERMISSIONS):
        raise InvalidInput(f"{', '.join(platform)} belong to platform administrators, not to a team role")
    if not permissions:
        raise InvalidInput("a role grants at least one permission")
    return frozenset(permissions)
