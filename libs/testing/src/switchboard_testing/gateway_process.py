"""A whole Switchboard gateway (`switchboard up`) as a subprocess on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from switchboard_testing.ports import free_port

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


def wait_until_healthy(
    base_url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"gateway exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"gateway not healthy within {timeout}s:\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def start_gateway(extra_env: Mapping[str, str] | None = None) -> Iterator[GatewayProcess]:
    with tempfile.TemporaryDirectory(prefix="switchboard-") as tmp:
        data_dir = Path(tmp) / "data"
        http_port, grpc_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))} | {
            "SWITCHBOARD_HTTP_PORT": str(http_port),
            "SWITCHBOARD_GRPC_PORT": str(grpc_port),
            "SWITCHBOARD_DATA_DIR": str(data_dir),
            "SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SWITCHBOARD_METRICS_FLUSH_INTERVAL_S": "0.2",
            "SWITCHBOARD_URL": f"http://127.0.0.1:{http_port}",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        log_path = Path(tmp) / "gateway.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "switchboard_cli.main", "up"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{http_port}"
        gateway = GatewayProcess(base_url, grpc_port, data_dir, env, process, log_path)
        try:
            wait_until_healthy(base_url, process, log_path)
            yield gateway
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
