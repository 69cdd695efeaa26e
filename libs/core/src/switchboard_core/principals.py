"""Who is calling: bearer tokens verified by the auth service, cached in-process.

Steady state makes no gRPC call: a verified token's `Principal` is kept until the
sooner of its expiry and `ttl_s`, and dropped at once when the auth service's
revocation feed names its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import grpc
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

from switchboard_core.counters import COUNTERS
from switchboard_core.errors import DependencyUnavailable, Unauthenticated, from_grpc
from switchboard_core.grpc import feeds


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    email: str
    is_admin: bool
    teams: tuple[str, ...]
    token_id: str
    expires_at: int
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_proto(cls, p: auth_pb2.Principal) -> Principal:
        return cls(p.user_id, p.email, p.is_admin, tuple(p.teams), p.token_id, p.expires_at, tuple(p.scopes))

    def to_proto(self) -> auth_pb2.Principal:
        return auth_pb2.Principal(
            user_id=self.user_id,
            email=self.email,
            is_admin=self.is_admin,
            teams=self.teams,
            token_id=self.token_id,
            expires_at=self.expires_at,
            scopes=self.scopes,
        )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or Unauthenticated."""
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization header must be 'Bearer <token>'")
    return token.strip()


class PrincipalCache:
    """Resolves tokens to principals through AuthService, with an in-process cache."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float, ttl_s: float = 300.0) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._watch: asyncio.Task | None = None

    async def authenticate(self, token: str) -> Principal:
        entry = self._entries.get(token)
        now = time.time()
        if entry is not None and entry[1] > now:
            COUNTERS.add("cache.principals.hits")
            return entry[0]
        COUNTERS.add("cache.principals.misses")
        try:
            reply = await self._stub.Authenticate(
                auth_pb2.AuthenticateRequest(token=token), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "auth") from exc
        principal = Principal.from_proto(reply.principal)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[token] = (principal, min(now + self._ttl_s, principal.expires_at))
        return principal

    def forget(self, token_id: str = "", user_id: str = "") -> None:
        doomed = [
            t
            for t, (p, _) in self._entries.items()
            if (token_id and p.token_id == token_id) or (user_id and p.user_id == user_id and not token_id)
        ]
        for token in doomed:
            del self._entries[token]

    def start_watching(self) -> None:
        self._watch = asyncio.create_task(self._follow_revocations(), name="principal-revocations")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _follow_revocations(self) -> None:
        await feeds.follow(
            "revocation",
            lambda: self._stub.WatchRevocations(auth_pb2.WatchRevocationsRequest()),
            lambda revocation: self.forget(revocation.token_id, revocation.user_id),
            self._entries.clear,
            # What was cached while no stream was open may have been revoked meanwhile.
            on_open=self._entries.clear,
        )


__all__ = ["DependencyUnavailable", "Principal", "PrincipalCache", "Unauthenticated", "bearer_token"]
