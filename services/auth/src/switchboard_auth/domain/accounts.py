"""What the auth service does for its callers: log in, mint, list and revoke tokens,
authenticate a token, change a password, add and list users. The HTTP and gRPC faces
only translate to these.

Logins lock an account for `lockout` after `max_failures` wrong passwords in a row
(counted in the database, so failures through every replica count); while locked,
the password is not even checked, so guessing on gets nowhere. Every refused login is
an audit record `user.login` with outcome `denied`, naming the email tried (never the
password), bounded as `Refusals` bounds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.audit import REDACTED, Actor
from switchboard_core.audit_refusals import Refusals
from switchboard_core.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from switchboard_core.principals import Principal

from switchboard_auth.domain.audit import record
from switchboard_auth.domain.passwords import hash_password_off_loop, password_matches_off_loop
from switchboard_auth.domain.revocations import Revocation, Subscription
from switchboard_auth.domain.shared_revocations import SharedRevocations
from switchboard_auth.domain.signing_keys import KeyRing
from switchboard_auth.domain.token_limits import NO_LIMITS, TokenLimits, check_within, validated
from switchboard_auth.domain.tokens import IssuedToken, Tokens
from switchboard_auth.domain.users import check_password, new_user, normalize_email, store_user
from switchboard_auth.store.api_tokens import TokenRow, mark_revoked, revoke_named, token_by_id, tokens_of
from switchboard_auth.store.users import (
    UserRow,
    clear_failed_logins,
    list_users,
    note_failed_login,
    set_password_hash,
    user_by_email,
    user_by_id,
)

MAX_TOKEN_TTL_DAYS = 3650
MAX_TOKEN_NAME_LENGTH = 200
LOGIN_TOKEN_NAME = "login"


class Accounts:
    def __init__(
        self,
        sessions: async_sessionmaker,
        keys: KeyRing,
        tokens: Tokens,
        revocations: SharedRevocations,
        refusals: Refusals,
        *,
        login_ttl: timedelta,
        default_token_ttl: timedelta,
        clock: Callable[[], datetime],
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
    ) -> None:
        self._max_failures = max_failures
        self._lockout = lockout
        self._sessions = sessions
        self._keys = keys
        self._tokens = tokens
        self._revocations = revocations
        self._refusals = refusals
        self._login_ttl = login_ttl
        self._default_token_ttl = default_token_ttl
        self._clock = clock

    async def login(self, email: str, password: str) -> IssuedToken:
        try:
            tried = normalize_email(email)
        except InvalidInput:
            # Not recorded as typed: what lands in the email field is at times a password.
            tried, user = "<not an email address>", None
        else:
            async with self._sessions() as session:
                user = await user_by_email(session, tried)
        attempt = _LoginAttempt(user.id if user else "", tried)
        now = self._clock()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            wait = int((user.locked_until - now).total_seconds()) + 1
            await self._refused_login(attempt, "account locked", locked_until=user.locked_until)
            raise Unauthenticated(f"account locked after repeated failed logins; try again in {wait} s")
        # Verify even for an unknown email, so timing does not tell which emails exist.
        matches = await password_matches_off_loop(user.password_hash if user else None, password)
        if user is None or not matches:
            if user is None:
                await self._refused_login(attempt, "unknown email")
            else:
                async with self._sessions.begin() as session:
                    locked = await note_failed_login(
                        session, user.id, limit=self._max_failures, lock_until=now + self._lockout
                    )
                await self._refused_login(
                    attempt, "wrong password", locked_until=now + self._lockout if locked else None
                )
            raise Unauthenticated("invalid email or password")
        if user.failed_logins or user.locked_until is not None:
            async with self._sessions.begin() as session:
                await clear_failed_logins(session, user.id)
        return await self._tokens.issue(user, name=LOGIN_TOKEN_NAME, ttl=self._login_ttl)

    async def _refused_login(
        self, attempt: _LoginAttempt, reason: str, *, locked_until: datetime | None = None
    ) -> None:
        changes = {} if locked_until is None else {"locked_until": locked_until.isoformat()}
        await self._refusals.refused(attempt, "user.login", attempt.user_id, reason=reason, changes=changes)

    async def change_password(self, actor: Principal, *, current: str, new: str) -> None:
        """The caller's own password; every login of theirs ends (API tokens stay)."""
        check_password(new)
        async with self._sessions() as session:
            user = await user_by_id(session, actor.user_id)
        if user is None or not await password_matches_off_loop(user.password_hash, current):
            raise PermissionDenied("the current password is wrong")
        password_hash = await hash_password_off_loop(new)
        now = self._clock()
        async with self._sessions.begin() as session:
            await set_password_hash(session, user.id, password_hash, now)
            ended = await revoke_named(session, user.id, LOGIN_TOKEN_NAME, now)
            await record(session, actor, "user.password_change", "user", user.id, {"password": REDACTED})
        for token_id in ended:
            await self._revocations.announce(Revocation(token_id=token_id, user_id=user.id))

    async def authenticate(self, token: str) -> Principal:
        return await self._tokens.verify(token)

    async def mint(
        self,
        actor: Principal,
        *,
        name: str,
        ttl_days: int | None = None,
        email: str | None = None,
        scopes: list[str] | None = None,
        servers: list[str] | None = None,
        cidrs: list[str] | None = None,
    ) -> IssuedToken:
        """A named API token for the actor, or (administrators only) for the user `email`,
        limited to permissions (`scopes`), virtual servers and client networks, each as
        narrow as the actor's own token's."""
        limits = validated(scopes, servers, cidrs)
        check_within(limits, actor)
        if email is None:
            async with self._sessions() as session:
                owner = await user_by_id(session, actor.user_id)
            if owner is None:
                raise Unauthenticated("the caller's account no longer exists")
        else:
            owner = await self._user(normalize_email(email))
        if owner.id != actor.user_id and not actor.is_admin:
            raise PermissionDenied("only administrators mint tokens for other users")
        return await self._issue(owner, name, ttl_days, limits=limits, by=actor)

    async def mint_offline(
        self,
        *,
        email: str,
        name: str,
        ttl_days: int | None = None,
        scopes: list[str] | None = None,
        servers: list[str] | None = None,
        cidrs: list[str] | None = None,
    ) -> IssuedToken:
        """For the operator's CLI, which holds the database itself: no caller to check.

        A negative lifetime mints an already-expired token, for trying out how clients
        handle expiry.
        """
        limits = validated(scopes, servers, cidrs)
        owner = await self._user(normalize_email(email))
        return await self._issue(
            owner, name, ttl_days, allow_expired=True, limits=limits, by=OFFLINE_OPERATOR
        )

    async def tokens_of(self, actor: Principal, *, limit: int, offset: int) -> list[TokenRow]:
        async with self._sessions() as session:
            return await tokens_of(session, actor.user_id, limit=limit, offset=offset)

    async def revoke(self, actor: Principal, token_id: str) -> None:
        """Revokes a token of the actor's (any token, for an administrator) and tells every watcher."""
        async with self._sessions.begin() as session:
            row = await token_by_id(session, token_id)
            if row is None or (row.user_id != actor.user_id and not actor.is_admin):
                raise NotFound(f"no token {token_id!r}")
            await mark_revoked(session, token_id, self._clock())
            await record(session, actor, "token.revoke", "token", token_id, {"owner_user_id": row.user_id})
        await self._revocations.announce(Revocation(token_id=row.jti, user_id=row.user_id))

    async def create_user(self, actor: Principal, *, email: str, password: str, is_admin: bool) -> UserRow:
        _require_admin(actor)
        user = await new_user(email, password, is_admin=is_admin, now=self._clock())
        async with self._sessions.begin() as session:
            await store_user(session, user)
            await record(
                session, actor, "user.create", "user", user.id, {"email": user.email, "is_admin": is_admin}
            )
        return user

    async def users(self, actor: Principal, *, limit: int, offset: int) -> list[UserRow]:
        _require_admin(actor)
        async with self._sessions() as session:
            return await list_users(session, limit=limit, offset=offset)

    def watch_revocations(self) -> Subscription:
        """Every revocation from now on; `close()` the subscription when done."""
        return self._revocations.subscribe()

    def jwks(self) -> dict:
        return self._keys.jwks()

    async def _user(self, email: str) -> UserRow:
        async with self._sessions() as session:
            user = await user_by_email(session, email)
        if user is None:
            raise NotFound(f"no user with email {email!r}")
        return user

    async def _issue(
        self,
        owner: UserRow,
        name: str,
        ttl_days: int | None,
        *,
        allow_expired: bool = False,
        limits: TokenLimits = NO_LIMITS,
        by: Actor,
    ) -> IssuedToken:
        name = name.strip()
        if not name or len(name) > MAX_TOKEN_NAME_LENGTH:
            raise InvalidInput(f"token names have 1 to {MAX_TOKEN_NAME_LENGTH} characters")
        if ttl_days is None:
            ttl = self._default_token_ttl
        elif (-MAX_TOKEN_TTL_DAYS if allow_expired else 1) <= ttl_days <= MAX_TOKEN_TTL_DAYS:
            ttl = timedelta(days=ttl_days)
        else:
            raise InvalidInput(f"token lifetimes are 1 to {MAX_TOKEN_TTL_DAYS} days")

        async def audited(session, row: TokenRow) -> None:
            changes = {
                "name": row.name,
                "owner_user_id": row.user_id,
                "expires_at": row.expires_at.isoformat(),
                "scopes": list(limits.scopes),
                "servers": list(limits.servers),
                "cidrs": list(limits.cidrs),
            }
            await record(session, by, "token.create", "token", row.jti, changes)

        return await self._tokens.issue(owner, name=name, ttl=ttl, limits=limits, also=audited)


@dataclass(frozen=True, slots=True)
class _LoginAttempt:
    """Who a refused login names: the account asked for, or only the email tried."""

    user_id: str
    email: str
    token_id: str = ""


@dataclass(frozen=True, slots=True)
class _Operator:
    user_id: str = ""
    email: str = "operator (offline CLI)"
    token_id: str = ""


# Who the audit log names for what the operator's CLI does on the database directly.
OFFLINE_OPERATOR = _Operator()


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise PermissionDenied("this action needs an administrator")
