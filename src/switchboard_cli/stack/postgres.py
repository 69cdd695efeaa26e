"""The stack's Postgres: one cluster in `<dir>/postgres/data`, one database per service
(`switchboard_auth`, ...), owned by one login role the services use through PgBouncer.

`initdb` runs only when the data dir is empty; databases and the role are created when
missing, so a second `stack up` reuses what the first made. TCP on loopback only (no
Unix socket), password (SCRAM) authentication.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from switchboard_cli.stack.accounts import Account, hand_over
from switchboard_cli.stack.credentials import Credentials
from switchboard_cli.stack.errors import StackStartError
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_cli.stack.readiness import wait_until
from switchboard_cli.stack.topology import HOST

SUPERUSER = "postgres"


def database_name(service: str) -> str:
    return f"switchboard_{service.replace('-', '_')}"


def url(port: int, user: str, password: str, database: str) -> str:
    """The SQLAlchemy URL the services take (psycopg 3)."""
    return f"postgresql+psycopg://{user}:{password}@{HOST}:{port}/{database}"


def start(
    supervisor: Supervisor,
    *,
    bins: dict[str, str],
    root: Path,
    port: int,
    credentials: Credentials,
    account: Account | None,
) -> Child:
    data = root / "data"
    if not (data / "PG_VERSION").exists():
        _initdb(bins["initdb"], root, data, credentials.postgres_superuser_password, account)
    hand_over(root, account)  # also when an earlier start ran as another user
    argv = [
        bins["postgres"],
        "-D",
        str(data),
        "-c",
        f"listen_addresses={HOST}",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
        # A local stack: a crash may lose the last commits, never corrupt the cluster.
        "-c",
        "synchronous_commit=off",
    ]
    # SIGINT is Postgres's "fast" shutdown (SIGTERM waits for every client to leave).
    return supervisor.spawn(
        "postgres", argv, account=account, stop_signal=signal.SIGINT, env=_daemon_env(root)
    )


def wait_ready(supervisor: Supervisor, *, port: int, credentials: Credentials) -> None:
    def connects() -> bool:
        try:
            _superuser_connection(port, credentials).close()
        except psycopg.OperationalError:
            return False
        return True

    wait_until(connects, what="Postgres", supervisor=supervisor)


def ensure_databases(*, port: int, credentials: Credentials, services: Iterable[str]) -> None:
    """The login role and one database per service, created when missing."""
    user, password = credentials.database_user, credentials.database_password
    with _superuser_connection(port, credentials) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(user), sql.Literal(password))
        )
        for service in services:
            name = database_name(service)
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(user))
                )


def _superuser_connection(port: int, credentials: Credentials) -> psycopg.Connection:
    return psycopg.connect(
        host=HOST,
        port=port,
        user=SUPERUSER,
        password=credentials.postgres_superuser_password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=2,
    )


def _initdb(initdb: str, root: Path, data: Path, password: str, account: Account | None) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    password_file = root / "superuser-password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    hand_over(root, account)
    try:
        result = subprocess.run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            env=_daemon_env(root),
            cwd=root,
            check=False,
            **(account.popen_kwargs() if account else {}),
        )
    finally:
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackStartError(f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def _daemon_env(root: Path) -> dict[str, str]:
    # Nothing of the caller's environment: no PG* variable may redirect the cluster.
    return {"PATH": "/usr/bin:/bin", "HOME": str(root), "LC_ALL": "C", "TZ": "UTC"}
