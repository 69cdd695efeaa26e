"""JWTs: issuing (ES256, one `api_tokens` row each) and verifying.

Verification checks, in order: the header names ES256 (so `none` and HMAC tricks
never reach a key), a known `kid`, the signature, `exp`/`nbf`/`iat` (with a small
clock-skew allowance), `iss` and `aud`, and finally the token's row: it must exist,
belong to the subject and not be revoked. The row's owner supplies email, admin flag
and team memberships (with what each role permits), so demoting a user or changing
their teams takes effect without re-issuing tokens; the row supplies what the token is
limited to (scopes, servers, client networks).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import Unauthenticated
from switchboard_core.principals import Principal

from switchboard_auth.domain.memberships import memberships
from switchboard_auth.domain.signing_keys import ALGORITHM, KeyRing
from switchboard_auth.store.api_tokens import (
    NO_LIMITS,
    TokenLimits,
    TokenRow,
    insert_token,
    mark_used,
    token_holder,
)
from switchboard_auth.store.teams import personal_team_of
from switchboard_auth.store.users import UserRow

logger = logging.getLogger(__name__)

CLOCK_SKEW_S = 30
# `last_used_at` is refreshed at most this often per token: a write per verification would not scale.
LAST_USED_RESOLUTION = timedelta(minutes=1)
REQUIRED_CLAIMS = ["sub", "jti", "iat", "nbf", "exp", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: str
    access_token: str
    expires_at: datetime
    limits: TokenLimits = NO_LIMITS


class Tokens:
    def __init__(
        self,
        sessions: async_sessionmaker,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    async def issue(
        self, user: UserRow, *, name: str, ttl: timedelta, limits: TokenLimits = NO_LIMITS
    ) -> IssuedToken:
        issued_at = int(self._clock().timestamp())
        expires_at = issued_at + int(ttl.total_seconds())
        jti = str(uuid.uuid4())
        key = self._keys.active
        claims = {
            "sub": user.id,
            "email": user.email,
            "adm": user.is_admin,
            "jti": jti,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "iss": self._issuer,
            "aud": self._audience,
        }
        if limits.scopes:
            # For the token's readers (RFC 9068); what is enforced is the row's copy.
            claims["scope"] = " ".join(limits.scopes)
        access_token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        row = TokenRow(
            jti=jti,
            user_id=user.id,
            name=name,
            created_at=datetime.fromtimestamp(issued_at, UTC),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            revoked_at=None,
            last_used_at=None,
            limits=limits,
        )
        async with self._sessions.begin() as session:
            await insert_token(session, row)
        return IssuedToken(jti, access_token, row.expires_at, limits)

    async def verify(self, token: str) -> Principal:
        claims = await self._verified_claims(token)
        jti, subject = claims["jti"], claims["sub"]
        async with self._sessions() as session:
            holder = await token_holder(session, jti)
            held = await memberships(session, subject) if holder is not None else ()
            personal = await personal_team_of(session, subject) if holder is not None else ""
        if holder is None or holder.user_id != subject:
            raise Unauthenticated("token is not known to this issuer")
        if holder.revoked_at is not None:
            raise Unauthenticated("token has been revoked")
        now = self._clock()
        if holder.last_used_at is None or now - holder.last_used_at >= LAST_USED_RESOLUTION:
            await self._note_use(jti, now)
        return Principal(
            user_id=holder.user_id,
            email=holder.email,
            is_admin=holder.is_admin,
            teams=tuple(m.team_id for m in held),
            token_id=jti,
            expires_at=int(claims["exp"]),
            memberships=held,
            scopes=holder.limits.scopes,
            allowed_servers=holder.limits.servers,
            allowed_cidrs=holder.limits.cidrs,
            personal_team_id=personal,
        )

    async def _note_use(self, jti: str, now: datetime) -> None:
        """Best effort: a busy database must not turn a valid token away."""
        try:
            async with self._sessions.begin() as session:
                await mark_used(session, jti, now)
        except OperationalError as exc:
            logger.warning("could not record the use of token %s: %s", jti, exc)

    async def _verified_claims(self, token: str) -> dict:
        if not token:
            raise Unauthenticated("no token given")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted (only {ALGORITHM})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token names no signing key (kid)")
        key = await self._keys.verification_key(kid)
        if key is None:
            raise Unauthenticated("token is signed by an unknown key")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("token is not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("token is meant for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("token comes from another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("token signature is invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"malformed token: {exc}") from exc
