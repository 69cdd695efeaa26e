"""Who is calling: bearer tokens verified by the auth service, cached on two levels.

Steady state makes no gRPC call: a verified token's `Principal` is kept in-process
until the sooner of its expiry and `ttl_s`, and dropped at once when the auth
service's revocation feed names its token. Between replicas (distributed mode) a
shared level in Redis sits behind the in-process one: a token one replica verified is
a Redis hit for the others. Its keys name the token's user and id (read from the
token's claims, unverified: they only place the entry, whose value is what the auth
service said of this exact token, named by its digest), so a revocation deletes them
by prefix, on every replica that hears it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import time
from dataclasses import dataclass

import grpc
import orjson
from google.protobuf.message import DecodeError
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

from switchboard_core.counters import COUNTERS
from switchboard_core.errors import DependencyUnavailable, Unauthenticated, from_grpc
from switchboard_core.grpc import feeds
from switchboard_core.policy import Membership
from switchboard_core.shared.redis_level import RedisLevel


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    email: str
    is_admin: bool
    teams: tuple[str, ...]
    token_id: str
    expires_at: int
    scopes: tuple[str, ...] = ()
    memberships: tuple[Membership, ...] = ()
    # What a scoped API token is limited to besides its scopes (empty: no limit).
    allowed_servers: tuple[str, ...] = ()
    allowed_cidrs: tuple[str, ...] = ()
    # The user's personal team: where what they create goes unless they name a team.
    personal_team_id: str = ""

    @classmethod
    def from_proto(cls, p: auth_pb2.Principal) -> Principal:
        return cls(
            p.user_id,
            p.email,
            p.is_admin,
            tuple(p.teams),
            p.token_id,
            p.expires_at,
            tuple(p.scopes),
            tuple(Membership(m.team_id, m.role, frozenset(m.permissions)) for m in p.memberships),
            tuple(p.allowed_servers),
            tuple(p.allowed_cidrs),
            p.personal_team_id,
        )

    def to_proto(self) -> auth_pb2.Principal:
        return auth_pb2.Principal(
            user_id=self.user_id,
            email=self.email,
            is_admin=self.is_admin,
            teams=self.teams,
            token_id=self.token_id,
            expires_at=self.expires_at,
            scopes=self.scopes,
            memberships=[
                auth_pb2.Membership(team_id=m.team_id, role=m.role, permissions=sorted(m.permissions))
                for m in self.memberships
            ],
            allowed_servers=self.allowed_servers,
            allowed_cidrs=self.allowed_cidrs,
            personal_team_id=self.personal_team_id,
        )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or Unauthenticated."""
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization header must be 'Bearer <token>'")
    return token.strip()


def shared_key(token: str) -> str | None:
    """Where the shared level keeps `token`'s principal, or None for a token that is no JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    user_id, token_id = claims.get("sub"), claims.get("jti")
    if not isinstance(user_id, str) or not isinstance(token_id, str) or ":" in user_id + token_id:
        return None
    return f"{_revoked_prefix(token_id, user_id)}{hashlib.sha256(token.encode()).hexdigest()}"


def _revoked_prefix(token_id: str, user_id: str) -> str:
    """The shared keys a revocation names: one token of the user's, or all of them."""
    return f"u:{user_id}:t:{token_id}:" if token_id else f"u:{user_id}:"


class PrincipalCache:
    """Resolves tokens to principals through AuthService, with an in-process cache."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout_s: float,
        ttl_s: float = 300.0,
        shared: RedisLevel | None = None,
    ) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._watch: asyncio.Task | None = None
        self._shared = shared
        self._deletions: set[asyncio.Task] = set()
        self._feed_opened = False
        self._revocations_heard = 0  # a load that straddles one is not shared: it may predate it

    async def authenticate(self, token: str) -> Principal:
        entry = self._entries.get(token)
        now = time.time()
        if entry is not None and entry[1] > now:
            COUNTERS.add("cache.principals.hits")
            return entry[0]
        COUNTERS.add("cache.principals.misses")
        key = None if self._shared is None else shared_key(token)
        principal = None if key is None else await self._from_shared(key, now)
        if principal is None:
            heard = self._revocations_heard
            try:
                reply = await self._stub.Authenticate(
                    auth_pb2.AuthenticateRequest(token=token), timeout=self._timeout_s
                )
            except grpc.aio.AioRpcError as exc:
                raise from_grpc(exc, "auth") from exc
            principal = Principal.from_proto(reply.principal)
            if key is not None and heard == self._revocations_heard:
                await self._shared.put(
                    key,
                    reply.principal.SerializeToString(),
                    ttl_s=min(self._ttl_s, principal.expires_at - now),
                )
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[token] = (principal, min(now + self._ttl_s, principal.expires_at))
        return principal

    async def _from_shared(self, key: str, now: float) -> Principal | None:
        raw = await self._shared.get(key)
        if raw is None:
            return None
        try:
            principal = Principal.from_proto(auth_pb2.Principal.FromString(raw))
        except DecodeError:
            return None
        return principal if principal.expires_at > now else None

    def forget(self, token_id: str = "", user_id: str = "") -> None:
        self._revocations_heard += 1
        doomed = [
            t
            for t, (p, _) in self._entries.items()
            if (token_id and p.token_id == token_id) or (user_id and p.user_id == user_id and not token_id)
        ]
        for token in doomed:
            del self._entries[token]
        if self._shared is not None and user_id:
            self._delete_shared(_revoked_prefix(token_id, user_id))

    def _delete_shared(self, prefix: str) -> None:
        # Every replica hearing the revocation deletes: one of them reaching Redis suffices,
        # and one that cannot owes the deletion (and reads no Redis) until it can.
        task = asyncio.get_running_loop().create_task(self._shared.delete_prefix(prefix))
        self._deletions.add(task)
        task.add_done_callback(self._deletions.discard)

    def _opened(self) -> None:
        """The revocation feed is (again) open: from now on nothing is missed."""
        self._revocations_heard += 1
        self._entries.clear()
        if self._feed_opened and self._shared is not None:
            # Revocations made while this replica's feed was down may have reached no one.
            self._delete_shared("")
        self._feed_opened = True

    def start_watching(self) -> None:
        self._watch = asyncio.create_task(self._follow_revocations(), name="principal-revocations")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self._deletions):
            task.cancel()
        if self._shared is not None:
            await self._shared.close()

    async def _follow_revocations(self) -> None:
        await feeds.follow(
            "revocation",
            lambda: self._stub.WatchRevocations(auth_pb2.WatchRevocationsRequest()),
            lambda revocation: self.forget(revocation.token_id, revocation.user_id),
            self._entries.clear,
            # What was cached while no stream was open may have been revoked meanwhile.
            on_open=self._opened,
        )


__all__ = ["DependencyUnavailable", "Principal", "PrincipalCache", "Unauthenticated", "bearer_token"]
