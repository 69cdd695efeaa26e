"""Alembic migrations of one service's own database: upgrade, inspect, and what a
service does at start (migrate, or wait until someone has).

Each service ships its migration environment inside its package
(`switchboard_<service>/migrations/`: `env.py`, `versions/`) and describes it with a
`MigrationSet`. Its revisions are recorded in a version table of its own
(`alembic_version_<service>`), so the services may share one database or use one each.

Replicas starting together may all migrate. The whole upgrade is one transaction
(Postgres DDL is transactional) that first takes `pg_advisory_xact_lock`: the others
queue on the lock and then find nothing left to do. A session-level advisory lock
would be unsafe behind PgBouncer in transaction mode, where the server connection is
ours only until the transaction ends. On SQLite the transaction starts with
`BEGIN IMMEDIATE`, which serialises migrators on the file the same way.

Databases created before migrations existed (tables made by `create_all`, no version
table) are stamped with the baseline revision, then upgraded from there.

A revision that seals data at rest finds the service's sealing keys (a `SecretKeys`,
or None when the caller gave none) in `context.config.attributes["sealing_keys"]`.

Errors (see `switchboard_core.errors` for the tree they hang from):

    DependencyUnavailable
    └── SchemaNotCurrent   the database is not at this code's revision (start-up waits)
    SwitchboardError
    └── SchemaConflict     tables exist that no revision accounts for
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.exc import InterfaceError, OperationalError

from switchboard_core._alembic import (
    CommandError,
    Config,
    MigrationContext,
    ScriptDirectory,
    command,
    compare_metadata,
)
from switchboard_core.db import create_engine
from switchboard_core.errors import DependencyUnavailable, SwitchboardError
from switchboard_core.resilience.backoff import retry
from switchboard_core.security.sealing import SecretKeys
from switchboard_core.settings import ServiceSettings

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Failures worth another attempt at start: the database is not reachable (yet).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError)


class SchemaNotCurrent(DependencyUnavailable):
    """The database is not at the revision this code expects."""


class SchemaConflict(SwitchboardError):
    """The database holds some of a service's tables but no record of its revisions."""


@dataclass(frozen=True)
class MigrationSet:
    """One service's migrations: where they are and what they must produce."""

    service: str
    # The Alembic script directory (env.py, versions/).
    directory: Path
    # The tables as the code declares them; the head revision must produce exactly these.
    metadata: MetaData
    # The first revision, and the tables it creates: a database holding these tables
    # but no version table was made by `create_all` before migrations existed.
    baseline: str
    baseline_tables: frozenset[str]

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    @property
    def lock_key(self) -> int:
        """The advisory lock migrators of this service take (a stable signed 64-bit key)."""
        digest = hashlib.sha256(f"switchboard-migrations:{self.service}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def config(self, connection: Connection | None = None, sealing_keys: SecretKeys | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["migrations"] = self
        config.attributes["connection"] = connection
        config.attributes["sealing_keys"] = sealing_keys
        return config

    def heads(self) -> tuple[str, ...]:
        return tuple(ScriptDirectory.from_config(self.config()).get_heads())


@dataclass(frozen=True)
class Upgrade:
    """What one `upgrade` did: the revision before and after, and whether it adopted a
    database made before migrations (stamping it with the baseline first)."""

    before: str | None
    after: str | None
    adopted: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after


def run_environment() -> None:
    """The body of every service's `env.py`: migrate on the connection handed over by
    `upgrade`, inside its transaction."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    migrations: MigrationSet | None = context.config.attributes.get("migrations")
    if connection is None or migrations is None:
        raise RuntimeError("run migrations with `switchboard migrate`, not the alembic command")
    context.configure(
        connection=connection,
        target_metadata=migrations.metadata,
        version_table=migrations.version_table,
        # SQLite alters tables by copying them; Alembic's batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=_own_tables_only(migrations),
    )
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(
    url: str, migrations: MigrationSet, revision: str = "head", *, sealing_keys: SecretKeys | None = None
) -> Upgrade:
    """Bring the database at `url` to `revision`, in one transaction, holding the lock."""
    return await _in_transaction(url, lambda conn: _upgrade(conn, migrations, revision, sealing_keys))


async def current_revision(url: str, migrations: MigrationSet) -> str | None:
    return await _in_transaction(url, lambda conn: _context(conn, migrations).get_current_revision())


async def schema_diff(url: str, migrations: MigrationSet) -> list[Any]:
    """How the database differs from the tables the code declares (Alembic's
    autogenerate comparison; empty when they match)."""
    return await _in_transaction(url, lambda conn: _diff(conn, migrations))


async def require_current(url: str, migrations: MigrationSet) -> None:
    current = await current_revision(url, migrations)
    heads = migrations.heads()
    if current not in heads:
        raise SchemaNotCurrent(
            f"the {migrations.service} database is at revision {current or 'none'}, this code needs "
            f"{', '.join(heads)}: run `switchboard migrate {migrations.service}`"
        )


@dataclass(frozen=True)
class StartupPolicy:
    """How a service brings its database up at start (from the shared settings)."""

    migrate: bool = True
    attempts: int = 30
    interval_s: float = 2.0

    @classmethod
    def of(cls, settings: ServiceSettings, *, attempts: int | None = None) -> StartupPolicy:
        return cls(
            migrate=settings.migrate_on_start,
            attempts=attempts if attempts is not None else settings.db_max_retries,
            interval_s=settings.db_retry_interval_ms / 1000,
        )


async def prepare(
    url: str, migrations: MigrationSet, policy: StartupPolicy, *, sealing_keys: SecretKeys | None = None
) -> Upgrade | None:
    """At start: migrate (or, when migrating is someone else's job, wait until the
    schema is current), retrying with backoff while the database is unreachable.
    Returns what the upgrade did, if this process ran one."""
    name = migrations.service
    if policy.migrate:
        return await retry(
            f"migrating the {name} database",
            lambda: upgrade(url, migrations, sealing_keys=sealing_keys),
            retry_on=TRANSIENT_ERRORS,
            attempts=policy.attempts,
            base=policy.interval_s,
        )
    await retry(
        f"waiting for the {name} database schema",
        lambda: require_current(url, migrations),
        retry_on=(*TRANSIENT_ERRORS, SchemaNotCurrent),
        attempts=policy.attempts,
        base=policy.interval_s,
    )
    return None


# Alembic's `context` and `op` are module-level proxies: two migrations interleaving
# in one process would run each other's operations. One at a time per event loop.
_serialised: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _in_transaction(url: str, work: Callable[[Connection], T]) -> T:
    lock = _serialised.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        engine = create_engine(url, migrations=True)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()


def _upgrade(
    conn: Connection, migrations: MigrationSet, revision: str, sealing_keys: SecretKeys | None
) -> Upgrade:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": migrations.lock_key})
    before = _context(conn, migrations).get_current_revision()
    config = migrations.config(conn, sealing_keys)
    if before is not None and not _known(config, before):
        raise SchemaNotCurrent(
            f"the {migrations.service} database is at revision {before}, which this version does not "
            "know: a newer version has migrated it"
        )
    adopted = before is None and _made_before_migrations(conn, migrations)
    if adopted:
        logger.warning(
            "the %s database has its tables but no %s: adopting it at revision %s",
            migrations.service,
            migrations.version_table,
            migrations.baseline,
        )
        command.stamp(config, migrations.baseline)
    command.upgrade(config, revision)
    after = _context(conn, migrations).get_current_revision()
    if after != before:
        logger.info("migrated the %s database: %s -> %s", migrations.service, before or "empty", after)
    if adopted and (differences := _column_differences(conn, migrations)):
        logger.warning(
            "the adopted %s database differs from what this code declares: %s",
            migrations.service,
            differences,
        )
    return Upgrade(before, after, adopted)


# Differences a database made by `create_all` shows that do not matter: on SQLite its
# unnamed constraints cannot be matched to the named ones the revisions create.
_NAMING_ONLY = {"add_constraint", "remove_constraint", "add_index", "remove_index", "add_fk", "remove_fk"}


def _column_differences(conn: Connection, migrations: MigrationSet) -> list[Any]:
    return [d for d in _diff(conn, migrations) if not (isinstance(d, tuple) and d[0] in _NAMING_ONLY)]


def _known(config: Config, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except CommandError:
        return False


def _made_before_migrations(conn: Connection, migrations: MigrationSet) -> bool:
    present = migrations.baseline_tables & set(inspect(conn).get_table_names())
    if not present:
        return False
    if missing := migrations.baseline_tables - present:
        raise SchemaConflict(
            f"the {migrations.service} database has the tables {sorted(present)} but not "
            f"{sorted(missing)}, and no {migrations.version_table}: it was not made by Switchboard, "
            "or only in part; point the service at an empty database or repair this one"
        )
    return True


def _context(conn: Connection, migrations: MigrationSet) -> MigrationContext:
    return MigrationContext.configure(
        conn,
        opts={
            "version_table": migrations.version_table,
            "target_metadata": migrations.metadata,
            "include_name": _own_tables_only(migrations),
        },
    )


def _diff(conn: Connection, migrations: MigrationSet) -> list[Any]:
    return compare_metadata(_context(conn, migrations), migrations.metadata)


def _own_tables_only(migrations: MigrationSet):
    """Other services' tables (in a shared database) are none of this service's business."""

    def include_name(name: str | None, type_: str, _parent: dict) -> bool:
        return type_ != "table" or name in migrations.metadata.tables

    return include_name
