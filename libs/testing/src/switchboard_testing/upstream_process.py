"""Running the fixture upstream MCP server as a child process on a free port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from switchboard_testing.errors import ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import wait_until_http_ok

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_START_ATTEMPTS = 3


@dataclass
class UpstreamProcess:
    """A fixture upstream running as a child process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)
    sse: bool = False
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The MCP endpoint: `http://HOST:PORT/mcp`, or `.../sse` for a legacy SSE upstream."""
        return f"{self.base_url}/sse" if self.sse else f"{self.base_url}/mcp"

    def output(self) -> str:
        """What the process has written to stdout and stderr so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """Terminate (SIGTERM); kill if it has not exited within the grace period."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Kill (SIGKILL) and reap."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def start_upstream(
    *,
    name: str = "fixture",
    stateless: bool = False,
    extra_tools: int = 0,
    sse: bool = False,
    port: int | None = None,
    modern_only: bool = False,
    page_size: int = 0,
    accept_headers: tuple[str, ...] = (),
    oauth_client: str | None = None,
    token_lifetime_s: float | None = None,
    host: str = "127.0.0.1",
) -> Iterator[UpstreamProcess]:
    """Run a fixture upstream on a free port (`sse`: over the legacy HTTP+SSE transport;
    `modern_only`: the stateless revision 2026-07-28 alone); yield it once it answers;
    stop it on exit. `port` fixes the port, e.g. to start an upstream again where a
    stopped one was; `page_size` pages its tools/list. `accept_headers` ("name: value")
    and `oauth_client` ("id:secret") make it require credentials (`upstream_gate`).
    `host` is the address it listens on (loopback unless containers must reach it)."""
    flags = [
        *(["--modern-only"] if modern_only else []),
        *(["--page-size", str(page_size)] if page_size else []),
        *(f for header in accept_headers for f in ("--accept-header", header)),
        *(["--oauth-client", oauth_client] if oauth_client else []),
        *(["--token-lifetime", str(token_lifetime_s)] if token_lifetime_s is not None else []),
        *(["--host", host] if host != "127.0.0.1" else []),
    ]
    upstream = _spawn_until_ready(
        name=name, stateless=stateless, extra_tools=extra_tools, sse=sse, port=port, flags=flags, host=host
    )
    try:
        yield upstream
    finally:
        upstream.stop()
        upstream.log.close()


def _spawn_until_ready(
    *,
    name: str,
    stateless: bool,
    extra_tools: int,
    sse: bool,
    port: int | None,
    flags: list[str],
    host: str = "127.0.0.1",
) -> UpstreamProcess:
    # A free port is only free when we look; a child that lost the race exits, and we retry.
    for attempt in range(1, _START_ATTEMPTS + 1):
        upstream = _spawn(
            name=name,
            stateless=stateless,
            extra_tools=extra_tools,
            sse=sse,
            port=port,
            flags=flags,
            host=host,
        )
        try:
            wait_until_http_ok(
                f"{upstream.base_url}/healthz", process=upstream.process, timeout_s=STARTUP_TIMEOUT_S
            )
        except ProcessStartError as exc:
            upstream.kill()
            output = upstream.output()
            upstream.log.close()
            lost_port_race = "address already in use" in output.lower()
            if attempt < _START_ATTEMPTS and lost_port_race:
                continue
            raise ProcessStartError(
                f"fixture upstream {name!r} on port {upstream.port} did not start: {exc}\n"
                f"--- its output ---\n{output}"
            ) from exc
        return upstream
    raise AssertionError("unreachable: the last attempt returns or raises")


def _spawn(
    *,
    name: str,
    stateless: bool,
    extra_tools: int,
    sse: bool,
    port: int | None,
    flags: list[str],
    host: str = "127.0.0.1",
) -> UpstreamProcess:
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "switchboard_testing.upstream_server",
        "--port",
        str(port),
        "--name",
        name,
    ]
    if stateless:
        command.append("--stateless")
    if sse:
        command.append("--sse")
    if extra_tools:
        command += ["--tools", str(extra_tools)]
    command += flags
    # The child is its own interpreter: whatever warning policy the parent runs under
    # (pytest's filterwarnings=error, PYTHONWARNINGS=error), the SDK's deprecation
    # warnings must only be printed there, never turned into a crash.
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    return UpstreamProcess(name=name, port=port, process=process, log=log, sse=sse, host=host)
