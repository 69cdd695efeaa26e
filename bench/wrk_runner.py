"""Running wrk against one MCP endpoint with a fixed JSON-RPC POST, and reading its results.

The Lua script posts the same `tools/call` on every request, checks each answer for a
successful tool result, and prints one `BENCH_JSON {...}` line from `done()` with the
request count, socket/status errors, JSON-RPC-level failures and latency percentiles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

_MARKER = "BENCH_JSON "

_LUA = r"""
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
%(headers)s

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  bad = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 and string.find(body, [==[%(expect)s]==]) then
    ok = ok + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"ok":%%d,"bad":%%d,' ..
    '"latency_us":{"min":%%d,"mean":%%.1f,"stdev":%%.1f,"p50":%%d,"p90":%%d,"p99":%%d,"p999":%%d,"max":%%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    ok_total, bad_total,
    latency.min, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
"""


class WrkError(RuntimeError):
    """wrk failed to run or printed no result."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    ok: int
    bad: int
    latency_us: dict[str, float]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def non_2xx(self) -> int:
        # wrk counts a status >= 400 as a status error; `bad` also catches 3xx and JSON-RPC/tool failures.
        return self.errors["status"]

    @property
    def valid(self) -> bool:
        return self.requests > 0 and self.bad == 0 and not any(self.errors.values())

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "non_2xx": self.non_2xx,
            "socket_errors": {k: v for k, v in self.errors.items() if k != "status"},
            "failed_answers": self.bad,
            "latency_ms": {k: round(v / 1000, 3) for k, v in self.latency_us.items()},
            "valid": self.valid,
        }


def wrk_path() -> str | None:
    return shutil.which("wrk")


# A Lua pattern every successful answer contains; the default is a successful tool result.
TOOL_SUCCESS = '"isError"%s*:%s*false'


def _lua_script(body: str, headers: Mapping[str, str], expect: str) -> str:
    header_lines = "\n".join(f'wrk.headers["{name}"] = [==[{value}]==]' for name, value in headers.items())
    return _LUA % {"body": body, "headers": header_lines, "marker": _MARKER, "expect": expect}


def run_wrk(
    url: str,
    *,
    body: str,
    headers: Mapping[str, str],
    duration_s: float,
    connections: int,
    threads: int,
    timeout_s: float = 10.0,
    expect: str = TOOL_SUCCESS,
) -> WrkResult:
    """Load `url` with POSTs of `body` for `duration_s` and return what wrk measured."""
    wrk = wrk_path()
    if wrk is None:
        raise WrkError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="tools_call_") as script:
        script.write(_lua_script(body, headers, expect))
        script.flush()
        command = [
            wrk,
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            f"--script={script.name}",
            url,
        ]
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False
        )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(_MARKER)), None)
    if completed.returncode != 0 or line is None:
        raise WrkError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line[len(_MARKER) :])
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors=data["errors"],
        ok=data["ok"],
        bad=data["bad"],
        latency_us=data["latency_us"],
    )


def wrk_version() -> str:
    wrk = wrk_path()
    if wrk is None:
        return "not installed"
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).splitlines()[0].strip()
