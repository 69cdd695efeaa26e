"""A whole Switchboard gateway (`switchboard up`) as a subprocess on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from switchboard_testing.errors import ProcessStartError
from switchboard_testing.internal import INTERNAL_ENV
from switchboard_testing.outbound import OUTBOUND_ENV
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import wait_until_http_ok

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct-horse-battery-staple"


@dataclass
class GatewayProcess:
    base_url: str
    grpc_port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path
    # Where stderr (the log proper) went when kept apart from stdout (`separate_stderr`).
    stderr_path: Path | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `switchboard ARGS` against this gateway (same environment)."""
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

    def mint_token(self, email: str = ADMIN_EMAIL) -> str:
        return self.cli("token", "create", "--email", email).stdout.strip()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stderr_lines(self) -> list[str]:
        """The log lines the gateway wrote to stderr (with `separate_stderr=True`)."""
        assert self.stderr_path is not None, "start_gateway(separate_stderr=True) keeps stderr apart"
        return self.stderr_path.read_text(errors="replace").splitlines()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"gateway did not stop within {timeout}s:\n{self.log()}") from None
        return self.process.returncode


@contextlib.contextmanager
def start_gateway(
    extra_env: Mapping[str, str] | None = None,
    *,
    command: tuple[str, ...] = ("up",),
    data_dir: Path | None = None,
    http_port: int | None = None,
    grpc_port: int | None = None,
    ready: bool = True,
    umask: int = -1,
    separate_stderr: bool = False,
) -> Iterator[GatewayProcess]:
    """`switchboard up` (or another command, e.g. `("serve", "registry")`) on free ports,
    yielded once it answers `/healthz` (at once with `ready=False`); started with
    `umask` when one is given (as a user's shell might have it). Its stdout and stderr go
    to one file, or stderr (the log) to a file of its own with `separate_stderr`."""
    with tempfile.TemporaryDirectory(prefix="switchboard-") as tmp:
        data_dir = data_dir or Path(tmp) / "data"
        http_port, grpc_port = http_port or free_port(), grpc_port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))} | {
            "SWITCHBOARD_HTTP_PORT": str(http_port),
            "SWITCHBOARD_GRPC_PORT": str(grpc_port),
            "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SWITCHBOARD_METRICS_FLUSH_INTERVAL_S": "0.2",
            "SWITCHBOARD_URL": f"http://127.0.0.1:{http_port}",
            **OUTBOUND_ENV,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        log_path = Path(tmp) / "gateway.log"
        stderr_path = Path(tmp) / "gateway.stderr" if separate_stderr else None
        with open(log_path, "wb") as log, open(stderr_path or os.devnull, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "switchboard_cli.main", *command],
                env=env,
                stdout=log,
                stderr=err if separate_stderr else subprocess.STDOUT,
                umask=umask,
            )
        base_url = f"http://127.0.0.1:{http_port}"
        gateway = GatewayProcess(base_url, grpc_port, data_dir, env, process, log_path, stderr_path)
        try:
            try:
                if ready:
                    wait_until_http_ok(f"{base_url}/healthz", process=process)
            except ProcessStartError as exc:
                raise AssertionError(f"{exc}\n--- gateway log ---\n{gateway.log()}") from exc
            yield gateway
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextlib.contextmanager
def start_services(
    data_dir: Path, *, env: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[dict[str, GatewayProcess]]:
    """The four services as four processes (`switchboard serve NAME`), each finding the
    others by address, as in distributed mode (but on SQLite); `env` adds to some
    services' environment (`{"mcp-proxy": {"SWITCHBOARD_OUTBOUND_ALLOW": ""}}`)."""
    names = ("auth", "registry", "metrics", "mcp-proxy")
    grpc_ports = {name: free_port() for name in names}
    addresses = {
        "SWITCHBOARD_AUTH_ADDR": f"127.0.0.1:{grpc_ports['auth']}",
        "SWITCHBOARD_REGISTRY_ADDR": f"127.0.0.1:{grpc_ports['registry']}",
        "SWITCHBOARD_METRICS_ADDR": f"127.0.0.1:{grpc_ports['metrics']}",
        **INTERNAL_ENV,
    }
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                start_gateway(
                    {**addresses, **(env or {}).get(name, {})},
                    command=("serve", name),
                    data_dir=data_dir,
                    grpc_port=grpc_ports[name],
                )
            )
            for name in names
        }
