"""Async SQLAlchemy engines for a service's own database.

SQLite (aiosqlite) in embedded mode, Postgres (psycopg 3) in distributed mode. Keep
transactions short: open one with `async with sessions.begin() as s:` around the SQL
only, never across a network call to another service or an upstream.

Postgres is reached through PgBouncer in transaction pooling mode, where consecutive
transactions of one client may run on different server connections. PgBouncer 1.18
does not track prepared statements, so psycopg must never prepare one: it would be
missing (or already present) on the next server connection. `prepare_threshold=None`
turns psycopg's automatic preparing off; SQLAlchemy's psycopg dialect prepares
nothing of its own. Nothing here relies on session state (SET, advisory session
locks, temporary tables) either.

Every statement an engine runs is counted (`counters`: `sql.queries`). A service's
pool is watched for Prometheus (`db_pool`): its connections in use and idle, read at
scrape time, and the checkouts that had to wait for one, counted and timed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from switchboard_core.counters import COUNTERS
from switchboard_core.db_pool import MeteredPool, watch

# Every constraint and index gets a predictable name on every backend, so a later
# migration can drop or alter it by name (SQLite's batch mode needs that too).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """The MetaData a service declares its tables on."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, migrations: bool = False, service: str = "") -> AsyncEngine:
    """An engine for `url`; `migrations=True` gives the single-connection engine that
    schema changes run on (see `switchboard_core.migrations`). `service` names its pool
    in the metrics (by default the database's name, `registry` of `registry.db`)."""
    if is_sqlite(url):
        engine = _sqlite_engine(url, migrations=migrations)
    else:
        # One connection per migration run; the service's own engine keeps a pool.
        pooling = {"poolclass": NullPool} if migrations else {"pool_pre_ping": True, "poolclass": MeteredPool}
        engine = create_async_engine(url, connect_args={"prepare_threshold": None}, **pooling)
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    if not migrations:
        watch(engine, service or _database_name(url))
    return engine


def _database_name(url: str) -> str:
    name = Path(make_url(url).database or "").stem
    return name.removeprefix("switchboard_") or "unknown"


def _count_statement(*_args) -> None:
    COUNTERS.add("sql.queries")


def _sqlite_engine(url: str, *, migrations: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if not migrations:
        # A pool of connections to a file; an in-memory database keeps SQLAlchemy's one.
        pooling = {"poolclass": MeteredPool} if database and database != ":memory:" else {}
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pooling)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, connect_args={"timeout": 30}, poolclass=NullPool)
    event.listen(engine.sync_engine, "connect", _sqlite_migration_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_migration_connect(dbapi_connection, _record) -> None:
    # The driver's own transaction handling would leave DDL outside any transaction;
    # with it off, `_sqlite_begin_immediate` makes a migration one atomic unit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # Batch migrations copy a table and drop the old one: with foreign keys enforced,
    # that drop would cascade to the rows of every referencing table.
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    # IMMEDIATE takes the write lock at once, so concurrent migrators queue here
    # (busy timeout) instead of failing when they upgrade a read lock later.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
