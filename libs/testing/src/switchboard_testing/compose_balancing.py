"""Internal gRPC inside a compose project, seen from within: a long-lived client of the
project's own `Channels` running in one of its switchboard containers, and what each
replica's gRPC server counted (docs/internal-grpc.md "Balancing over replicas")."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

_CALLER = (Path(__file__).resolve().parent / "compose_files" / "internal_caller.py").read_text
# /internal/counters answers loopback peers only; no curl in the image, so the interpreter asks.
_READ_COUNTERS = (
    "import os, sys, urllib.request; sys.stdout.write(urllib.request.urlopen("
    "'http://127.0.0.1:%s/internal/counters' % os.environ.get('SWITCHBOARD_HTTP_PORT', '8000'),"
    " timeout=10).read().decode())"
)


def served_calls_in(containers: list[str], method: str) -> dict[str, int]:
    """Per container, the calls of `method` (`/package.Service/Method`) its gRPC server served."""

    def read(container: str) -> int:
        done = subprocess.run(
            ["docker", "exec", container, "python3", "-c", _READ_COUNTERS],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return int(json.loads(done.stdout)["counters"].get(f"grpc.served.{method}", 0))

    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        return dict(zip(containers, pool.map(read, containers), strict=True))


@dataclass
class InternalCaller:
    """`compose_files/internal_caller.py` in `container` (`docker exec -i`), one process
    for its whole life, so its channels keep what they resolved at their first calls."""

    container: str
    token: str
    process: subprocess.Popen[str] = field(init=False)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            ["docker", "exec", "-i", self.container, "python3", "-c", _CALLER(), self.token],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, times: int) -> dict[str, int]:
        """`times` calls of each service; what succeeded, per service. A failed call fails the test."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{times}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the caller in {self.container} ended ({self.process.wait(timeout=30)})")
        answer = json.loads(line)
        assert answer["errors"] == [], answer["errors"]
        return answer["ok"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
