"""Robustness testing of a running gateway with `mcp-fuzzer` (PyPI).

- `run_fuzzer()` runs the pinned mcp-fuzzer CLI against one MCP endpoint, bounded in
  runs and time, and returns its parsed report (`FuzzReport`).
- `RecordingProxy` sits on loopback between the fuzzer and the gateway and notes the
  status and duration of every exchange: the fuzzer's report only covers its fuzz runs,
  the proxy also sees its handshakes, listings and probes.
- `Bystander` keeps calling one tool on its own session while the fuzzer runs, to show
  that other clients are still served.

mcp-fuzzer runs in its own environment (`uv tool run`), never in the project's: it
pulls in hypothesis (a pytest plugin) and a score of other packages.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from switchboard_testing.mcp_http import McpHttp

MCP_FUZZER_VERSION = "0.7.0"
# A command line that runs mcp-fuzzer instead of `uv tool run`, e.g. an installed binary.
FUZZER_COMMAND_ENV = "MCP_FUZZER_COMMAND"
TOOL_RUNS_CSV = "tool_runs.csv"

# How mcp-fuzzer 0.7.0 words a fault of the server (as opposed to a JSON-RPC error,
# which it reports as "Server error: {...}" and which is the answer we want).
_HTTP_5XX = re.compile(r"HTTP 5\d\d\b")
_HANG_OR_DROP = ("Request timed out", "Tool execution timed out", "Connection failed")
_FAULT_OUTCOMES = {"crashed", "timeout", "oversized_response"}


def fuzzer_command() -> list[str] | None:
    """How to start mcp-fuzzer here, or None when neither an override nor `uv` is available."""
    override = os.environ.get(FUZZER_COMMAND_ENV)
    if override:
        return shlex.split(override)
    uv = shutil.which("uv")
    if uv is None:
        return None
    return [uv, "tool", "run", "--from", f"mcp-fuzzer=={MCP_FUZZER_VERSION}", "mcp-fuzzer"]


@dataclass
class FuzzReport:
    """What one mcp-fuzzer run wrote to its output directory."""

    summary: dict[str, Any]
    protocol_failures: list[dict[str, Any]]
    tool_runs: list[dict[str, str]]

    @classmethod
    def load(cls, output_dir: Path) -> FuzzReport:
        summary = json.loads((output_dir / "run_summary.json").read_text())
        failures: list[dict[str, Any]] = []
        for path in sorted(output_dir.glob("sessions/*/*_error_report.json")):
            failures += json.loads(path.read_text())["data"].get("errors", [])
        tool_runs: list[dict[str, str]] = []
        if (output_dir / TOOL_RUNS_CSV).exists():
            with open(output_dir / TOOL_RUNS_CSV, newline="", encoding="utf-8") as f:
                tool_runs = list(csv.DictReader(f))
        return cls(summary, failures, tool_runs)

    @property
    def total_runs(self) -> int:
        return int(self.summary["tools"]["total_runs"]) + int(self.summary["protocols"]["total_runs"])

    def server_faults(self) -> list[str]:
        """Every run in which the server answered 5xx, hung, dropped the connection or crashed."""
        faults = []
        for entry in self.protocol_failures:
            details = entry.get("details") or {}
            result = details.get("result") if isinstance(details.get("result"), dict) else {}
            error = str(result.get("error") or details.get("exception") or "")
            if _is_fault(error, details.get("outcome")):
                sent = json.dumps(details.get("fuzz_data"))[:300]
                faults.append(f"{entry.get('protocol_type')}: {error[:200]} <- {sent}")
        for run in self.tool_runs:
            error = run.get("Exception Message") or ""
            if _is_fault(error, None):
                faults.append(f"{run['Tool Name']}: {error[:200]} <- {run.get('Arguments', '')[:300]}")
        for name, tool in self.summary["tools"]["by_name"].items():
            if tool["outcomes"].get("crashed"):
                faults.append(f"{name}: {tool['outcomes']['crashed']} crashed run(s)")
        return faults


def _is_fault(error: str, outcome: str | None) -> bool:
    return bool(_HTTP_5XX.match(error)) or error.startswith(_HANG_OR_DROP) or outcome in _FAULT_OUTCOMES


@dataclass
class FuzzRun:
    command: list[str]
    returncode: int
    output: str
    seconds: float
    report: FuzzReport


def run_fuzzer(
    endpoint: str,
    token: str,
    args: Sequence[str],
    *,
    workdir: Path,
    command: Sequence[str],
    timeout_s: float = 90.0,
) -> FuzzRun:
    """Run `command` (see `fuzzer_command()`) against `endpoint` with `Authorization: Bearer token`.

    `args` choose the mode and bound the runs (`--mode tools --runs 5`, ...). Reports go to
    `workdir/report`. The whole process group is killed if it outlives `timeout_s`.
    """
    output_dir = workdir / "report"
    fs_root = workdir / "fs"
    fs_root.mkdir(parents=True, exist_ok=True)
    full = [
        *command,
        *("--protocol", "http", "--endpoint", endpoint),
        *("--output-dir", str(output_dir), "--fs-root", str(fs_root), "--no-corpus"),
        *("--output-types", "fuzzing_results", "error_report", "--export-csv", TOOL_RUNS_CSV),
        *args,
    ]
    # It reads its credentials from MCP_* variables and changes course under pytest.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_") and k != "PYTEST_CURRENT_TEST"}
    env |= {"MCP_API_KEY": token, "MCP_FUZZER_FS_ROOT": str(fs_root), "NO_COLOR": "1", "COLUMNS": "160"}
    started = time.monotonic()
    # cwd: it picks up an mcp-fuzzer.yml from the working directory.
    process = subprocess.Popen(
        full,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"mcp-fuzzer ran longer than {timeout_s}s:\n{output[-4000:]}") from None
    seconds = time.monotonic() - started
    if not (output_dir / "run_summary.json").exists():
        raise AssertionError(f"mcp-fuzzer wrote no report (exit {process.returncode}):\n{output[-4000:]}")
    return FuzzRun(full, process.returncode, output, seconds, FuzzReport.load(output_dir))


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    seconds: float
    request_head: bytes


# Headers of one hop, or that the proxy (or httpx) writes itself.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "host",
    "date",
    "server",
}


class RecordingProxy:
    """A loopback HTTP/1.0 reverse proxy to `target` that records every exchange.

    Use as a context manager; `url` is its base URL. A request the target cannot be
    reached for is recorded (and answered) as 502.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def since(self, mark: int) -> list[Exchange]:
        with self._lock:
            return self.exchanges[mark:]

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                started = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
                try:
                    with proxy._client.stream(
                        self.command, proxy.target + self.path, content=body, headers=headers
                    ) as response:
                        self.send_response(response.status_code)
                        for key, value in response.headers.multi_items():
                            if key.lower() not in _HOP_BY_HOP:
                                self.send_header(key, value)
                        self.end_headers()
                        for chunk in response.iter_raw():
                            self.wfile.write(chunk)
                            self.wfile.flush()
                        status = response.status_code
                except httpx.TransportError as exc:
                    status = 502
                    with contextlib.suppress(OSError):
                        self.send_error(502, f"gateway unreachable: {type(exc).__name__}")
                except OSError:
                    status = 499  # the client went away mid-answer
                proxy._record(
                    Exchange(self.command, self.path, status, time.monotonic() - started, body[:300])
                )

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Call:
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Bystander:
    """Calls `tool` with a fresh `text` in a loop on its own session until the block ends.

    `tool` must answer its `text` argument back (the fixture upstream's echo does).
    """

    url: str
    token: str
    tool: str
    pause_s: float = 0.02
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __enter__(self) -> Bystander:
        client = McpHttp(self.url, self.token)
        client.initialize()
        self._thread = threading.Thread(target=self._loop, args=(client,), name="bystander", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)
        if self._thread.is_alive():
            raise AssertionError("the bystander's last call did not come back within 60s")

    def _loop(self, client: McpHttp) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            self.calls.append(self._call_once(client, f"bystander-{n}"))
            self._stop.wait(self.pause_s)

    def _call_once(self, client: McpHttp, text: str) -> Call:
        started = time.monotonic()
        try:
            reply = client.call_tool(self.tool, {"text": text})
        except (httpx.HTTPError, ValueError) as exc:
            return Call(time.monotonic() - started, False, f"{type(exc).__name__}: {exc}")
        seconds = time.monotonic() - started
        content = (reply.get("result") or {}).get("content") or [{}]
        if content[0].get("text") != text:
            return Call(seconds, False, json.dumps(reply)[:300])
        return Call(seconds, True)

    @property
    def failures(self) -> list[Call]:
        return [c for c in self.calls if not c.ok]

    @property
    def slowest_s(self) -> float:
        return max((c.seconds for c in self.calls), default=0.0)
