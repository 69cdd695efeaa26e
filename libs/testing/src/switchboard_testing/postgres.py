"""A private Postgres server for tests, started from the installed binaries.

`start_postgres()` runs initdb in a temporary directory and starts `postgres` on a
free loopback port (its unix socket in that directory too), tuned for tests: no
fsync, no synchronous commit. Each test then takes a fresh database of its own
(`create_database`), cheap since it is a copy of the empty template.
"""

from __future__ import annotations

import contextlib
import glob
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from switchboard_testing.errors import HarnessError, ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.server_user import ServerUser, find_binary, run_as, server_user

SUPERUSER = "switchboard"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05
_START_ATTEMPTS = 3
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
}


def postgres_bin_dir() -> Path:
    """Where initdb and postgres are: on PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name), reverse=True
    )
    initdb = find_binary("initdb", search=[Path(path) for path in versions], package="postgresql")
    find_binary("postgres", search=[initdb.parent], package="postgresql")
    return initdb.parent


@dataclass
class PostgresServer:
    """A running Postgres; `url(database)` gives SQLAlchemy URLs straight to it."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A direct autocommit connection (the caller closes it)."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        )

    def create_database(self, name: str | None = None) -> str:
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop it even while connections (a pooler's, a leaked one) are still open to it."""
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, close connections)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start_again(self) -> None:
        """Start it again after `stop()`, on the same port and data (what a restarted
        database server is to its clients), and wait until it accepts connections."""
        if self.process.poll() is None:
            raise HarnessError("start_again() needs the server stopped first")
        again = _start(postgres_bin_dir(), server_user(), self.directory, self.port)
        self.log.close()
        self.process, self.log = again.process, again.log


@contextlib.contextmanager
def start_postgres(*, port: int | None = None) -> Iterator[PostgresServer]:
    """Initialise and start a private Postgres (on `port`, else a free one); stop it and
    remove its files on exit.

    `MissingBinary` if Postgres is not installed; `ProcessStartError` if it never
    accepts connections.
    """
    bin_dir = postgres_bin_dir()
    user = server_user()
    directory = user.make_directory("sb-postgres-")
    try:
        data = directory / "data"
        run_as(
            user,
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=directory,
            what="initdb",
        )
        server = _start(bin_dir, user, directory, port)
        try:
            yield server
        finally:
            server.stop()
            server.log.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _start(bin_dir: Path, user: ServerUser, directory: Path, fixed_port: int | None) -> PostgresServer:
    # The port is free when picked but may be taken before postgres binds it: try again
    # (on another port, unless the caller named one).
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = fixed_port or free_port()
        log = open(directory / f"postgres-{attempt}.log", "w+b")  # closed by start_postgres
        command = [str(bin_dir / "postgres"), "-D", str(directory / "data"), "-p", str(port)]
        command += ["-k", str(directory)]
        for name, value in _SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        process = subprocess.Popen(
            command,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_server_env(),
            **user.popen_kwargs(),
        )
        server = PostgresServer(directory, port, process, log)
        try:
            _wait_ready(server)
        except ProcessStartError:
            server.stop()
            output = server.output()
            log.close()
            if attempt == _START_ATTEMPTS or fixed_port or "could not bind" not in output:
                raise
            continue
        return server
    raise AssertionError("unreachable")


def _server_env() -> dict[str, str]:
    # PG* variables of the caller's (PGDATA, PGPORT, ...) must not steer the test server.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error = "no answer"
    while True:
        if server.process.poll() is not None:
            raise ProcessStartError(
                f"postgres exited with status {server.process.returncode}:\n{server.output()}"
            )
        try:
            with server.connect() as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            raise ProcessStartError(
                f"postgres did not accept connections within {STARTUP_TIMEOUT_S}s ({last_error}):\n"
                f"{server.output()}"
            )
        time.sleep(POLL_INTERVAL_S)


class FreshDatabases:
    """Empty databases made ahead of time, and used ones dropped, on a thread of its
    own: creating a database takes a few hundred milliseconds that a test would
    otherwise wait for. `take()` one, `discard()` it after use, `close()` at the end."""

    AHEAD = 2

    def __init__(self, server: PostgresServer) -> None:
        self._server = server
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=self.AHEAD)
        self._doomed: queue.Queue[str | None] = queue.Queue()
        self._closed = threading.Event()
        self._worker = threading.Thread(target=self._work, name="fresh-databases", daemon=True)
        self._worker.start()

    def take(self) -> str:
        try:
            made = self._ready.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            raise HarnessError(f"no test database was made within {STARTUP_TIMEOUT_S}s") from None
        if isinstance(made, BaseException):
            raise HarnessError(f"could not create a test database: {made}") from made
        return made

    def discard(self, name: str) -> None:
        self._doomed.put(name)

    def close(self) -> None:
        self._closed.set()
        self._doomed.put(None)
        self._worker.join(timeout=STOP_TIMEOUT_S)

    def _work(self) -> None:
        while not self._closed.is_set():
            try:
                # Drops first (they free what creating takes); wait for one only when
                # enough databases are ready.
                doomed = self._doomed.get(block=self._ready.full(), timeout=POLL_INTERVAL_S)
            except queue.Empty:
                doomed = None
            if doomed is not None:
                # A database left behind goes with the server's directory anyway.
                with contextlib.suppress(psycopg.Error):
                    self._server.drop_database(doomed)
            elif not self._ready.full():
                try:
                    made: str | BaseException = self._server.create_database()
                except psycopg.Error as exc:
                    made = exc
                self._ready.put(made)
