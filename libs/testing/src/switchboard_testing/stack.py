"""`switchboard stack up` as a subprocess: the distributed shape (Postgres behind
PgBouncer, Redis, replicas of every service, nginx in front) for one test module.

The real command runs, so its start order, its signal handling and its clean stop are
under test as well; where everything listens is read from the `stack.json` it writes
once every process answers. Leaving `start_stack` stops it with SIGTERM and fails if any
process it started is still there.

The stack's own modules (switchboard_cli.stack) are reused for what the harness needs
before the command runs (which binaries are missing): the harness sits on top of
everything it tests, and the CLI never imports the harness.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from switchboard_core.ports import RANGE_VARIABLE

from switchboard_cli.stack import binaries
from switchboard_cli.stack.errors import MissingBinaries
from switchboard_cli.stack.processes import die_with_parent
from switchboard_testing.errors import ProcessStartError
from switchboard_testing.outbound import OUTBOUND_ENV
from switchboard_testing.ports import free_port

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
_POLL_S = 0.1


@dataclass
class StackProcess:
    dir: Path
    process: subprocess.Popen
    log_path: Path
    state: dict

    @property
    def url(self) -> str:
        """nginx's public base URL."""
        return self.state["url"]

    @property
    def admin_email(self) -> str:
        return self.state["admin"]["email"]

    @property
    def admin_password(self) -> str:
        return self.state["admin"]["password"]

    @property
    def env(self) -> dict[str, str]:
        """An environment pointing the CLI (admin commands, `token create`) at this stack."""
        return _clean_env() | self.state["env"]

    def replica_urls(self, service: str) -> list[str]:
        """Each replica's own HTTP base URL (behind nginx), in start order."""
        return [f"http://127.0.0.1:{r['http_port']}" for r in self.state["topology"]["replicas"][service]]

    def replica_addresses(self, service: str) -> list[str]:
        """`host:port` of each replica's HTTP face, as nginx names it in `$upstream_addr`."""
        return [url.removeprefix("http://") for url in self.replica_urls(service)]

    def login(self, email: str | None = None, password: str | None = None) -> str:
        """A fresh bearer token from `POST /auth/login` through nginx (the admin's by default)."""
        response = httpx.post(
            f"{self.url}/auth/login",
            json={"email": email or self.admin_email, "password": password or self.admin_password},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `switchboard ARGS` against this stack."""
        result = subprocess.run(
            [sys.executable, "-m", "switchboard_cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"switchboard {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def mint_token(self, email: str | None = None) -> str:
        """An API token minted by `switchboard token create` (straight from the auth database)."""
        return self.cli("token", "create", "--email", email or self.admin_email).stdout.strip()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_of(self, name: str) -> str:
        """What process `name` (`nginx`, `mcp-proxy-2`, `postgres`, ...) has written."""
        return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"the stack did not stop within {timeout_s}s:\n{self.output()}"
                ) from None
        return self.process.returncode

    def leftover_processes(self) -> list[str]:
        """Processes still running in the process groups the stack started (none, once stopped)."""
        groups = {p["pid"]: p["name"] for p in self.state["processes"]}
        return [f"{groups[pgid]}: pid {pid}" for pid, pgid in _live_processes() if pgid in groups]


def missing_binaries(*, sqlite: bool = False) -> list[str]:
    """The programs the stack needs that are not installed (empty when it can run)."""
    names = (
        ["redis-server", "nginx"] if sqlite else ["initdb", "postgres", "pgbouncer", "redis-server", "nginx"]
    )
    try:
        binaries.require(names)
    except MissingBinaries as exc:
        return exc.names
    return []


@contextlib.contextmanager
def start_stack(
    *,
    replicas: int = 1,
    proxy_replicas: int = 2,
    sqlite: bool = False,
    rate_limit: int | None = None,
    rate_burst: int | None = None,
    max_body: str | None = None,
    show_upstream: bool = True,
    restart_replicas: bool = False,
    service_replicas: Mapping[str, int] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[StackProcess]:
    """`switchboard stack up` in a temporary dir on a free port; stopped (and checked for
    leftover processes) on exit. `service_replicas` overrides `replicas` for some of
    `auth`, `registry`, `metrics`; `env` is added to every process's environment (the
    replicas' settings: `{"SWITCHBOARD_LEADER_TTL_S": "2"}`)."""
    # Not pytest's tmp_path: when tests run as root the daemons run as another account,
    # which must be able to reach the dir (pytest's base dir is private to its owner).
    stack_dir = Path(tempfile.mkdtemp(prefix="switchboard-stack-"))
    stack_dir.chmod(0o755)
    argv = [
        *("--dir", str(stack_dir), "--port", str(free_port())),
        *("--replicas", str(replicas), "--proxy-replicas", str(proxy_replicas)),
        *(["--sqlite"] if sqlite else []),
        *(["--rate-limit", str(rate_limit)] if rate_limit is not None else []),
        *(["--rate-burst", str(rate_burst)] if rate_burst is not None else []),
        *(["--max-body", max_body] if max_body is not None else []),
        *(["--show-upstream"] if show_upstream else []),
        *(["--restart-replicas"] if restart_replicas else []),
        *(
            arg
            for service, n in (service_replicas or {}).items()
            for arg in (f"--{service}-replicas", str(n))
        ),
    ]
    log_path = stack_dir.with_name(stack_dir.name + ".log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "switchboard_cli.main", "stack", "up", *argv],
            env=_clean_env() | OUTBOUND_ENV | dict(env or {}) | {"PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
    running = StackProcess(stack_dir, process, log_path, {})
    try:
        running.state = _wait_for_state(running)
        yield running
    finally:
        stopped_by_us = process.poll() is None
        status = running.stop()
        leftovers = running.leftover_processes() if running.state else []
        output = running.output()
        shutil.rmtree(stack_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    # (Reached only when the test passed: a failing test's error is not masked.)
    assert not stopped_by_us or status == 0, f"`switchboard stack up` ended with status {status}:\n{output}"
    assert not leftovers, f"processes left running after the stack stopped: {leftovers}"


def _wait_for_state(running: StackProcess) -> dict:
    state_file = running.dir / "stack.json"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not state_file.exists():
        if running.process.poll() is not None:
            raise ProcessStartError(
                f"`switchboard stack up` exited with status {running.process.returncode} before it was ready:\n"
                f"{running.output()}"
            )
        if time.monotonic() >= deadline:
            raise ProcessStartError(f"the stack was not ready within {START_TIMEOUT_S}s:\n{running.output()}")
        time.sleep(_POLL_S)
    return json.loads(state_file.read_text())


def _clean_env() -> dict[str, str]:
    # The worker's slice of free ports goes along: the stack picks its own ports.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWITCHBOARD_", "OTEL_")) or k == RANGE_VARIABLE
    }


def _live_processes() -> Iterator[tuple[int, int]]:
    """(pid, process group) of every process that is not a zombie."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the fields after it do not.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            yield int(entry.name), int(pgrp)
