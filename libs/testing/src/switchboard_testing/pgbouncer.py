"""PgBouncer in front of a test Postgres, in transaction pooling mode as deployed.

Every database of the server is reachable through it under its own name (a `*`
entry); a small `default_pool_size` makes many clients share few server
connections, so anything that relies on session state (prepared statements, SET,
session advisory locks) fails here as it would in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg

from switchboard_testing.errors import ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.postgres import SUPERUSER, PostgresServer
from switchboard_testing.server_user import ServerUser, find_binary, server_user

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
DEFAULT_POOL_SIZE = 4
_START_ATTEMPTS = 3


@dataclass
class PgBouncer:
    port: int
    pool_mode: str
    default_pool_size: int
    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)

    def url(self, database: str, *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> psycopg.Connection:
        """A client connection through the pooler (autocommit; the caller closes it)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            prepare_threshold=None,
        )

    def show(self, what: str) -> list[dict]:
        """`SHOW <what>` on the admin console (POOLS, SERVERS, CLIENTS, ...)."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="pgbouncer", autocommit=True
        ) as conn:
            cursor = conn.execute(f"SHOW {what}", prepare=False)
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """Immediate shutdown (SIGINT)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def pgbouncer_binary() -> Path:
    return find_binary("pgbouncer", search=[Path("/usr/sbin"), Path("/usr/bin")], package="pgbouncer")


@contextlib.contextmanager
def start_pgbouncer(
    postgres: PostgresServer,
    *,
    pool_mode: str = "transaction",
    default_pool_size: int = DEFAULT_POOL_SIZE,
) -> Iterator[PgBouncer]:
    """Start PgBouncer in front of `postgres`; stop it on exit.

    `MissingBinary` if PgBouncer is not installed; `ProcessStartError` if it never
    accepts connections.
    """
    binary = pgbouncer_binary()
    user = server_user()
    directory = user.make_directory("sb-pgbouncer-")
    try:
        bouncer = _start(binary, user, directory, postgres, pool_mode, default_pool_size)
        try:
            yield bouncer
        finally:
            bouncer.stop()
            bouncer.log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _config(directory: Path, postgres: PostgresServer, port: int, pool_mode: str, pool_size: int) -> Path:
    userlist = directory / "userlist.txt"
    userlist.write_text(f'"{SUPERUSER}" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host=127.0.0.1 port={postgres.port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {userlist}",
                f"admin_users = {SUPERUSER}",
                f"pool_mode = {pool_mode}",
                f"default_pool_size = {pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                "max_client_conn = 1000",
                # Databases come and go with every test: forget a pool soon after.
                "autodb_idle_timeout = 30",
                "server_login_retry = 1",
                "ignore_startup_parameters = extra_float_digits",
                "",
            ]
        )
    )
    return config


def _start(
    binary: Path, user: ServerUser, directory: Path, postgres: PostgresServer, pool_mode: str, pool_size: int
) -> PgBouncer:
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = free_port()
        config = _config(directory, postgres, port, pool_mode, pool_size)
        for path in directory.iterdir():
            _give(path, user)
        log = open(directory / f"pgbouncer-{attempt}.log", "w+b")  # closed by start_pgbouncer
        process = subprocess.Popen(
            [str(binary), str(config)],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **user.popen_kwargs(),
        )
        bouncer = PgBouncer(port, pool_mode, pool_size, process, log)
        try:
            _wait_ready(bouncer)
        except ProcessStartError:
            bouncer.stop()
            output = bouncer.output()
            log.close()
            if attempt == _START_ATTEMPTS or "Address already in use" not in output:
                raise
            continue
        return bouncer
    raise AssertionError("unreachable")


def _give(path: Path, user: ServerUser) -> None:
    if user.uid is not None:
        os.chown(path, user.uid, user.gid if user.gid is not None else -1)


def _wait_ready(bouncer: PgBouncer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no answer"
    while True:
        if bouncer.process.poll() is not None:
            raise ProcessStartError(
                f"pgbouncer exited with status {bouncer.process.returncode}:\n{bouncer.output()}"
            )
        try:
            with bouncer.connect("postgres") as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            raise ProcessStartError(
                f"pgbouncer did not accept connections within {STARTUP_TIMEOUT_S}s ({last_error}):\n"
                f"{bouncer.output()}"
            )
        time.sleep(POLL_INTERVAL_S)
