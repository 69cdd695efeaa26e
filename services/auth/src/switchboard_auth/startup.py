"""Opening the auth database and assembling the domain on it: shared by the service
and the offline CLI helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from switchboard_core.audit_refusals import Refusals
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.migrations import StartupPolicy, prepare
from switchboard_core.security.sealing import KEYS_SETTING, SealError, SecretKeys

from switchboard_auth.domain.accounts import Accounts
from switchboard_auth.domain.audit import AuditLog
from switchboard_auth.domain.bootstrap import ensure_admin
from switchboard_auth.domain.key_material import ASYMMETRIC
from switchboard_auth.domain.revocations import RevocationFeed
from switchboard_auth.domain.roles import Roles
from switchboard_auth.domain.shared_revocations import SharedRevocations
from switchboard_auth.domain.signing_keys import KeyRing
from switchboard_auth.domain.teams import Teams
from switchboard_auth.domain.tokens import CLOCK_SKEW_S, Tokens
from switchboard_auth.domain.user_admin import UserAdmin
from switchboard_auth.domain.users import ensure_personal_teams
from switchboard_auth.migrations import MIGRATIONS
from switchboard_auth.settings import AuthSettings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class OpenedAuth:
    engine: AsyncEngine
    accounts: Accounts
    keys: KeyRing
    users: UserAdmin
    teams: Teams
    roles: Roles
    audit: AuditLog
    refusals: Refusals
    # Set only when this opening created the first admin with a generated password.
    generated_admin_password: str | None

    async def close(self) -> None:
        await self.engine.dispose()


async def open_auth(
    settings: AuthSettings,
    revocations: SharedRevocations | None = None,
    *,
    connect_attempts: int | None = None,
) -> OpenedAuth:
    """Migrates the database, creates an active signing key and the first admin, as needed.

    Without `revocations` (the offline CLI), revocations reach no one but this process.
    """
    revocations = revocations or SharedRevocations(RevocationFeed())
    sealing = sealing_keys(settings)
    engine = create_engine(settings.database_url, service="auth")
    try:
        policy = StartupPolicy.of(settings, attempts=connect_attempts)
        await prepare(settings.database_url, MIGRATIONS, policy, sealing_keys=sealing)
        sessions = sessionmaker(engine)
        keys = KeyRing(
            sessions,
            utcnow,
            algorithm=settings.jwt_algorithm,
            secrets=settings.jwt_secrets() if settings.jwt_algorithm == "HS256" else (),
            publish_delay=timedelta(seconds=settings.jwt_publish_delay_s),
            refresh=timedelta(seconds=settings.jwt_key_refresh_s),
            clock_skew=timedelta(seconds=CLOCK_SKEW_S),
            sealing=sealing,
        )
        await keys.load()
        generated = await ensure_admin(
            sessions,
            email=settings.bootstrap_admin_email,
            password=settings.bootstrap_admin_password,
            clock=utcnow,
        )
        async with sessions.begin() as session:
            await ensure_personal_teams(session, utcnow())
        audit = AuditLog(sessions, max_record_bytes=settings.audit_record_max_bytes)
        refusals = Refusals(audit.keep, service="auth")
        tokens = Tokens(
            sessions, keys, issuer=settings.token_issuer, audience=settings.token_audience, clock=utcnow
        )
        accounts = Accounts(
            sessions,
            keys,
            tokens,
            revocations,
            refusals,
            login_ttl=timedelta(seconds=settings.login_token_ttl_s),
            default_token_ttl=timedelta(days=settings.default_token_ttl_days),
            clock=utcnow,
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_s),
        )
    except BaseException:
        await engine.dispose()
        raise
    return OpenedAuth(
        engine,
        accounts,
        keys,
        UserAdmin(sessions, revocations, clock=utcnow),
        Teams(sessions, revocations, clock=utcnow),
        Roles(sessions, revocations, clock=utcnow),
        audit,
        refusals,
        generated,
    )


def sealing_keys(settings: AuthSettings) -> SecretKeys:
    """What seals the stored signing keys: the keys sealing upstream credentials (when
    embedded and unset, the gateway's own). Stored keys are never kept in clear, so
    without one ES256 and RS256 cannot start."""
    keys = settings.sealing_keys()
    if not keys.keys and settings.jwt_algorithm in ASYMMETRIC:
        raise SealError(
            f"SWITCHBOARD_JWT_ALGORITHM={settings.jwt_algorithm} keys are stored sealed, and "
            f"{KEYS_SETTING} is not set: set it (the same list as the registry's and the "
            "proxy's; `switchboard secrets new-key`) on every auth replica (docs/identity.md)"
        )
    return keys
