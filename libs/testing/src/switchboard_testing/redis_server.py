"""A private Redis for one test: `redis-server` on a free loopback port, nothing
persisted, stopped on exit. Started the way `switchboard stack up` starts its own
(switchboard_cli.stack.redis), never the system Redis on 6379.

Tests of what survives an outage stop it and start it again on the same port
(`stop()`, `start_again()`), or freeze it (`freeze()`, `thaw()`: the port still accepts
connections but nothing answers, as with a hung server or a silent network).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from switchboard_cli.stack import binaries, redis
from switchboard_cli.stack.errors import StackStartError
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_testing.errors import ProcessStartError
from switchboard_testing.ports import free_port

_STOP_TIMEOUT_S = 10.0


@dataclass
class RedisServer:
    port: int
    child: Child
    supervisor: Supervisor | None = None
    root: Path | None = None
    binary: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def output(self) -> str:
        return self.child.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Shut Redis down (SIGTERM: it closes every client connection) and wait for it."""
        if self.child.process.poll() is None:
            self.child.process.send_signal(signal.SIGTERM)
            self.child.process.wait(_STOP_TIMEOUT_S)
        # The supervisor reports any exited child as a failed start; this one left on purpose.
        if self.supervisor is not None and self.child in self.supervisor.children:
            self.supervisor.children.remove(self.child)

    def start_again(self) -> None:
        """Start a fresh, empty Redis on the same port (after `stop()`) and wait until it answers."""
        if self.supervisor is None or self.root is None or self.binary is None:
            raise ProcessStartError("this RedisServer was not made by start_redis(); it cannot restart")
        self.child = _launch(self.supervisor, self.binary, self.root, self.port)

    def freeze(self) -> None:
        """Stop Redis answering without closing anything (SIGSTOP): clients must time out."""
        self.child.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.child.process.send_signal(signal.SIGCONT)


def redis_binary() -> str | None:
    return binaries.find("redis-server")


@contextlib.contextmanager
def start_redis(*, port: int | None = None) -> Iterator[RedisServer]:
    """A running Redis on `port` (default: a free one), stopped on exit."""
    binary = redis_binary()
    if binary is None:
        raise ProcessStartError(f"redis-server is not installed ({binaries.APT_INSTALL})")
    root = Path(tempfile.mkdtemp(prefix="switchboard-redis-"))
    try:
        with Supervisor(root / "logs") as supervisor:
            port = port or free_port()
            server = RedisServer(port, _launch(supervisor, binary, root, port), supervisor, root, binary)
            try:
                yield server
            finally:
                # A frozen server would ignore the supervisor's SIGTERM until the grace ran out.
                if server.child.process.poll() is None:
                    server.thaw()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _launch(supervisor: Supervisor, binary: str, root: Path, port: int) -> Child:
    # Redis runs as whoever runs the tests: unlike Postgres it does not refuse root.
    child = redis.start(supervisor, bins={"redis-server": binary}, root=root, port=port, account=None)
    try:
        redis.wait_ready(supervisor, port=port)
    except StackStartError as exc:
        raise ProcessStartError(str(exc)) from exc
    return child
