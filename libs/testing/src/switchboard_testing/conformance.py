"""Running the official MCP conformance suite (`@modelcontextprotocol/conformance`, its server
scenarios) and reading what it found, scenario by scenario.

The suite is a Node 22 program installed by `tools/conformance/` (see docs/conformance.md):
`tools/conformance/run.sh URL [options]` runs it with a Node 22 binary that npm installs from
the registry. `run_suite(url)` drives that script, then reads the `checks.json` each scenario
leaves in the output directory. The fixture upstream the suite's scenarios expect is
`switchboard_testing.conformance_server`; `start_conformance_upstream()` runs it as a child.

A scenario passes when none of its checks is a FAILURE or a WARNING: the suite's own baseline
mode (`--expected-failures`) judges scenarios the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from switchboard_testing.errors import HarnessError, ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import wait_until_http_ok
from switchboard_testing.upstream_process import STARTUP_TIMEOUT_S, UpstreamProcess

SUITE_VERSION = "0.1.16"
INSTALL_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 600.0
_NODE_UNAVAILABLE = 3  # run.sh's exit status when Node 22 cannot be obtained
_START_ATTEMPTS = 3
_SUMMARY_LINE = re.compile(r"^[✓✗] (?P<scenario>\S+): \d+ passed, \d+ failed$", re.MULTILINE)
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


class NodeUnavailable(HarnessError):
    """Node 22 (and so the suite) could not be installed: no npm, or the registry unreachable."""


@dataclass(frozen=True)
class ScenarioResult:
    """What the suite found in one scenario: its checks, as the suite reported them."""

    name: str
    checks: tuple[dict[str, Any], ...]

    def _with_status(self, status: str) -> list[dict[str, Any]]:
        return [check for check in self.checks if check.get("status") == status]

    @property
    def failures(self) -> list[dict[str, Any]]:
        return self._with_status("FAILURE")

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return self._with_status("WARNING")

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failures and not self.warnings

    def explain(self) -> str:
        """One line per failed or warned check: `STATUS check-id: message`."""
        lines = [
            f"{check['status']} {check.get('id', '?')}: {check.get('errorMessage') or check.get('description', '')}"
            for check in self.failures + self.warnings
        ]
        return "\n".join(lines) or ("passed" if self.passed else "no checks recorded")


@dataclass
class SuiteRun:
    """One run of the suite: the command, its exit status and output, and each scenario's result."""

    command: list[str]
    returncode: int
    output: str
    scenarios: dict[str, ScenarioResult] = field(default_factory=dict)

    @property
    def passed(self) -> list[str]:
        return [name for name, result in self.scenarios.items() if result.passed]

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.scenarios.items() if not result.passed]

    def report(self) -> str:
        """A table of every scenario with its outcome, and why the failed ones failed."""
        lines = []
        for name, result in self.scenarios.items():
            lines.append(f"{'PASS' if result.passed else 'FAIL'} {name}")
            if not result.passed:
                lines.extend(f"     {line}" for line in result.explain().splitlines())
        return "\n".join(lines)


def conformance_dir() -> Path:
    """`tools/conformance/` of this checkout (the workspace installs this package in place)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "tools" / "conformance"
        if (candidate / "run.sh").is_file():
            return candidate
    raise HarnessError("tools/conformance/run.sh not found above " + str(Path(__file__).resolve()))


@contextlib.contextmanager
def installing() -> Iterator[None]:
    """Held while `tools/conformance/` is installed into: test workers running side by
    side (pytest-xdist) take turns rather than run `npm ci` into one directory at once."""
    with open(conformance_dir() / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_suite() -> None:
    """Make sure the suite and its Node 22 are installed (`npm ci` on first use); raise `NodeUnavailable` if not possible."""
    with installing():
        _install_suite()


def _install_suite() -> None:
    result = subprocess.run(
        [str(conformance_dir() / "run.sh"), "--install"],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise NodeUnavailable(f"run.sh --install exited {result.returncode}:\n{result.stderr}")


def run_suite(
    url: str,
    *,
    scenario: str | None = None,
    suite: str = "active",
    extra_args: Sequence[str] = (),
    timeout_s: float = RUN_TIMEOUT_S,
) -> SuiteRun:
    """Run the suite's server scenarios (one, or a whole suite) against `url`; collect each scenario's checks."""
    install_suite()
    with tempfile.TemporaryDirectory(prefix="conformance-") as output_dir:
        command = [str(conformance_dir() / "run.sh"), url, "-o", output_dir, *extra_args]
        command += ["--scenario", scenario] if scenario else ["--suite", suite]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
        if result.returncode == _NODE_UNAVAILABLE:
            raise NodeUnavailable(result.stderr)
        output = result.stdout + result.stderr
        return SuiteRun(command, result.returncode, output, read_results(Path(output_dir), output))


def read_results(output_dir: Path, output: str = "") -> dict[str, ScenarioResult]:
    """Each scenario's checks from `output_dir/server-<scenario>-<time>/checks.json`.

    A scenario the suite names in its summary but left no checks for (it crashed before
    writing them) is reported with no checks, which does not pass.
    """
    results: dict[str, ScenarioResult] = {}
    for checks_file in sorted(output_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if match:
            checks = json.loads(checks_file.read_text())
            results[match["scenario"]] = ScenarioResult(match["scenario"], tuple(checks))
    for match in _SUMMARY_LINE.finditer(output):
        results.setdefault(match["scenario"], ScenarioResult(match["scenario"], ()))
    return results


@contextlib.contextmanager
def start_conformance_upstream(*, name: str = "conformance") -> Iterator[UpstreamProcess]:
    """Run the conformance fixture (`switchboard_testing.conformance_server`) on a free port; yield it once it answers."""
    upstream = _spawn_until_ready(name)
    try:
        yield upstream
    finally:
        upstream.stop()
        upstream.log.close()


def _spawn_until_ready(name: str) -> UpstreamProcess:
    # A free port is only free when we look; a child that lost the race exits, and we retry.
    for attempt in range(1, _START_ATTEMPTS + 1):
        upstream = _spawn(name)
        try:
            wait_until_http_ok(
                f"{upstream.base_url}/healthz", process=upstream.process, timeout_s=STARTUP_TIMEOUT_S
            )
        except ProcessStartError as exc:
            upstream.kill()
            output = upstream.output()
            upstream.log.close()
            if attempt < _START_ATTEMPTS and "address already in use" in output.lower():
                continue
            raise ProcessStartError(
                f"conformance fixture on port {upstream.port} did not start: {exc}\n--- its output ---\n{output}"
            ) from exc
        return upstream
    raise AssertionError("unreachable: the last attempt returns or raises")


def _spawn(name: str) -> UpstreamProcess:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "switchboard_testing.conformance_server",
        "--port",
        str(port),
        "--name",
        name,
    ]
    # Its own interpreter: the parent's warning policy (filterwarnings=error) must not crash it.
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    log: IO[bytes] = tempfile.TemporaryFile()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    return UpstreamProcess(name=name, port=port, process=process, log=log)
