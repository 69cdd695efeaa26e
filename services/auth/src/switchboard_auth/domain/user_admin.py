"""Administrators managing users: read, promote or demote, reset a password, unlock,
delete. The last administrator can be neither demoted nor deleted, so the platform
always keeps someone who can manage it. Every change reaches the user's cached
principals (announced like a revocation naming the user); a deleted user's tokens die
with the user, and a reset password ends their logins as a change would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.audit import REDACTED
from switchboard_core.errors import Conflict, NotFound, PermissionDenied
from switchboard_core.policy import decide
from switchboard_core.principals import Principal

from switchboard_auth.domain.accounts import LOGIN_TOKEN_NAME
from switchboard_auth.domain.audit import record
from switchboard_auth.domain.passwords import hash_password_off_loop
from switchboard_auth.domain.revocations import Revocation
from switchboard_auth.domain.shared_revocations import SharedRevocations
from switchboard_auth.domain.users import check_password
from switchboard_auth.store.api_tokens import revoke_named
from switchboard_auth.store.users import (
    UserRow,
    clear_failed_logins,
    count_admins,
    delete_user,
    set_admin,
    set_password_hash,
    user_by_id,
)


class UserAdmin:
    def __init__(
        self, sessions: async_sessionmaker, revocations: SharedRevocations, *, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._revocations = revocations
        self._clock = clock

    async def get(self, actor: Principal, user_id: str) -> UserRow:
        if actor.user_id != user_id:
            _require(actor)
        async with self._sessions() as session:
            user = await user_by_id(session, user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return user

    async def update(
        self,
        actor: Principal,
        user_id: str,
        *,
        is_admin: bool | None = None,
        password: str | None = None,
        unlock: bool = False,
    ) -> UserRow:
        _require(actor)
        if password is not None:
            check_password(password)
        password_hash = None if password is None else await hash_password_off_loop(password)
        now = self._clock()
        async with self._sessions.begin() as session:
            user = await user_by_id(session, user_id)
            if user is None:
                raise NotFound(f"no user {user_id!r}")
            if is_admin is False and user.is_admin:
                await _keep_an_admin(session)
            if is_admin is not None:
                await set_admin(session, user_id, is_admin)
            if password_hash is not None:
                await set_password_hash(session, user_id, password_hash, now)
                await revoke_named(session, user_id, LOGIN_TOKEN_NAME, now)
            elif unlock:
                await clear_failed_logins(session, user_id)
            updated = await user_by_id(session, user_id)
            await record(
                session, actor, "user.update", "user", user_id, _changes(user, updated, password, unlock)
            )
        await self._revocations.announce(Revocation(token_id="", user_id=user_id))
        return updated

    async def delete(self, actor: Principal, user_id: str) -> None:
        _require(actor)
        async with self._sessions.begin() as session:
            user = await user_by_id(session, user_id)
            if user is None:
                raise NotFound(f"no user {user_id!r}")
            if user.is_admin:
                await _keep_an_admin(session)
            await delete_user(session, user_id)
            await record(session, actor, "user.delete", "user", user_id, {"email": user.email})
        await self._revocations.announce(Revocation(token_id="", user_id=user_id))


def _changes(before: UserRow, after: UserRow, password: str | None, unlock: bool) -> dict:
    changes: dict = {}
    if before.is_admin != after.is_admin:
        changes["is_admin"] = [before.is_admin, after.is_admin]
    if password is not None:
        changes["password"] = REDACTED  # reset: that it changed, never what to
    elif unlock:
        changes["unlocked"] = True
    return changes


def _require(actor: Principal) -> None:
    decision = decide(actor, "users.manage")
    if not decision:
        raise PermissionDenied(decision.reason, permission="users.manage")


async def _keep_an_admin(session) -> None:
    if await count_admins(session) <= 1:
        raise Conflict("the last administrator cannot be demoted or deleted")
