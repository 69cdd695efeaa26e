"""Starting the stack's processes and stopping every one of them.

Each child runs in its own session (so its process group holds whatever it forks:
nginx workers, Postgres backends) and writes stdout and stderr to `<log dir>/<name>.log`.
Children get a parent-death signal: if this command is killed outright, they stop too
rather than linger. `stop()` ends the groups in the reverse order they were started
(the front door and the services before the databases they use), the replicas of one
service together, each with its own stop signal and a grace period before SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from switchboard_cli.stack.accounts import Account
from switchboard_cli.stack.errors import StackStartError

STOP_GRACE_S = 15.0
MAX_RESTARTS = 5
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 30


@dataclass
class Child:
    name: str
    group: str
    process: subprocess.Popen
    log_path: Path
    stop_signal: int
    # Starts the same process again (service replicas), or None.
    relaunch: Callable[[], subprocess.Popen] | None = None
    restarts: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        # Restart a service replica that exits, as an orchestrator would; else its exit
        # stops the stack (what a local stack should do by default: say what broke).
        self.restart_replicas = False

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        group: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        account: Account | None = None,
        stop_signal: int = signal.SIGTERM,
        restartable: bool = False,
    ) -> Child:
        # Owner-only: a replica's log may name what an operator would rather keep to themselves.
        self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"

        def launch() -> subprocess.Popen:
            with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
                return subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=die_with_parent(stop_signal),
                    **(account.popen_kwargs() if account else {}),
                )

        child = Child(name, group or name, launch(), log_path, stop_signal, launch if restartable else None)
        self.children.append(child)
        return child

    def check(self) -> list[Child]:
        """Restart exited replicas (when asked to) and return them; raise `StackStartError`
        naming the first other child that has exited, or a replica that keeps exiting."""
        restarted = []
        for child in self.children:
            code = child.process.poll()
            if code is None:
                continue
            if self.restart_replicas and child.relaunch is not None and child.restarts < MAX_RESTARTS:
                print(f"switchboard stack: {child.name} exited with status {code}; restarting it", flush=True)
                child.process = child.relaunch()
                child.restarts += 1
                restarted.append(child)
                continue
            raise StackStartError(
                f"{child.name} exited with status {code}; the end of {child.log_path}:\n{child.log_tail()}"
            )
        return restarted

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        groups: list[str] = []
        for child in self.children:
            if child.group not in groups:
                groups.append(child.group)
        for group in reversed(groups):
            _stop_together([c for c in self.children if c.group == group], grace_s)
        self.children.clear()


def _stop_together(children: list[Child], grace_s: float) -> None:
    for child in children:
        _signal_group(child, child.stop_signal)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
        # Whatever the child forked and left behind (its group outlives it) goes too.
        _signal_group(child, signal.SIGKILL)


def _signal_group(child: Child, sig: int) -> None:
    # The group id is the child's pid (start_new_session); it may already be gone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


def die_with_parent(sig: int):
    """A `preexec_fn`: the child gets `sig` when the thread that started it dies."""

    def preexec() -> None:
        # Runs in the child after it dropped privileges (a credential change clears the
        # parent-death signal, so it must be set afterwards).
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec
