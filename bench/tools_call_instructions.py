"""Benchmark: machine instructions the gateway spends per `tools/call` (callgrind).

    uv run python bench/tools_call_instructions.py [--calls 300] [--warmup 50] [--rounds 2]

CPU seconds per call move by ±10 % from run to run on a shared 2-core machine (the
upstream's own CPU per call, the same code in both runs, moves as much): too coarse to
show a change of a few per cent. Instructions do not move with the machine's speed or
load. This starts the fixture upstream as usual and the whole gateway (`switchboard up`,
embedded) under `valgrind --tool=callgrind` with instrumentation off, sets it up as
bench/tools_call.py does (a registered upstream, a server exposing `echo`, one MCP
session), makes `--warmup` calls uncounted, then for each round turns counting on,
makes `--calls` sequential calls (`tools/call echo {"text": "hi"}` on one keep-alive
connection) and reads the instructions counted (`callgrind_control --dump`). Work the
gateway does with no call at all (timers, keep-alives) grows with a round's wall time,
which grows with the machine's load: it is counted first over `--idle` seconds with no
call, and that rate times each round's duration is taken off. What calls cause
(metrics flushes of their records) stays in.

Run it from the checkout to measure; for an A/B, run this same file with each
checkout's interpreter (`cd <other checkout> && .venv/bin/python <this file>`). Prints
instructions per call per round and writes bench/results/tools_call_instructions.json.
Needs valgrind (Debian: `apt-get install valgrind`). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    OUTBOUND_ENV,
    GatewayProcess,
)
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.ports import free_port
from switchboard_testing.upstream_process import start_upstream

PROTOCOL_VERSION = "2025-06-18"
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"text": "hi"}},
}
RESULTS = Path(__file__).resolve().parent / "results" / "tools_call_instructions.json"
# Under callgrind the gateway runs some 50 times slower: its start takes minutes.
START_TIMEOUT_S = 600.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="calls counted per round")
    parser.add_argument("--warmup", type=int, default=50, help="calls made first, uncounted")
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds")
    parser.add_argument(
        "--idle", type=float, default=15.0, help="seconds counted with no call first: the idle rate"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    return parser.parse_args(argv)


def callgrind_control(*args: str) -> str:
    completed = subprocess.run(
        ["callgrind_control", *args], capture_output=True, text=True, timeout=120, check=True
    )
    return completed.stdout


def dumped_instructions(pid: int, out_dir: Path) -> int:
    """Instructions counted since the last dump: dumps one (which also zeroes the
    counters) and reads its total."""
    before = set(out_dir.glob("callgrind.out*"))
    callgrind_control("--dump", str(pid))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for dump in set(out_dir.glob("callgrind.out*")) - before:
            match = re.search(r"^(?:summary|totals):\s*(\d+)", dump.read_text(), re.MULTILINE)
            if match is not None:
                return int(match.group(1))
        time.sleep(0.5)
    raise SystemExit("callgrind wrote no dump within 120 s")


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the gateway did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def make_calls(client: httpx.Client, url: str, headers: dict[str, str], count: int) -> None:
    for _ in range(count):
        response = client.post(url, json=CALL, headers=headers)
        if response.status_code != 200 or '"isError":false' not in response.text.replace(" ", ""):
            raise SystemExit(f"a tools/call failed: {response.status_code} {response.text[:500]}")


def git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    # The gateway is started here, not with `start_gateway`: an A/B runs this file against
    # older checkouts, whose testing helpers cannot put a program in front of it.
    with start_upstream() as upstream, tempfile.TemporaryDirectory(prefix="switchboard-cg-") as tmp:
        http_port, grpc_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "OTEL_"))} | {
            "SWITCHBOARD_HTTP_PORT": str(http_port),
            "SWITCHBOARD_GRPC_PORT": str(grpc_port),
            "SWITCHBOARD_DATA_DIR": str(Path(tmp) / "data"),
            "SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SWITCHBOARD_METRICS_FLUSH_INTERVAL_S": "0.2",
            "SWITCHBOARD_URL": f"http://127.0.0.1:{http_port}",
            **OUTBOUND_ENV,
            "PYTHONUNBUFFERED": "1",
        }
        log_path = Path(tmp) / "gateway.log"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            "-m",
            "switchboard_cli.main",
            "up",
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{http_port}"
        try:
            wait_until_up(f"{base_url}/healthz", process, log_path)
            gateway = GatewayProcess(base_url, grpc_port, Path(tmp) / "data", env, process, log_path)
            token = gateway.mint_token()
            with httpx.Client(
                base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=300
            ) as admin:
                register(admin, "bench", upstream.url)
                server_id = create_server(admin, "bench", ["bench__echo"], bare_names=True)
            url = f"{base_url}/servers/{server_id}/mcp"
            session = McpHttp(url, token, protocol_version=PROTOCOL_VERSION)
            session.initialize()
            headers = {
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session.session_id or "",
                "MCP-Protocol-Version": session.protocol_version,
            }
            per_call: list[float] = []
            raw: list[float] = []
            with httpx.Client(timeout=300) as client:
                make_calls(client, url, headers, args.warmup)
                callgrind_control("-i", "on", str(process.pid))
                dumped_instructions(process.pid, Path(tmp))  # counting from here
                started = time.monotonic()
                time.sleep(args.idle)
                idle_per_s = dumped_instructions(process.pid, Path(tmp)) / (time.monotonic() - started)
                print(f"idle: {idle_per_s:,.0f} instructions per second", flush=True)
                for _ in range(args.rounds):
                    started = time.monotonic()
                    make_calls(client, url, headers, args.calls)
                    counted = dumped_instructions(process.pid, Path(tmp))
                    idle = idle_per_s * (time.monotonic() - started)
                    raw.append(counted / args.calls)
                    per_call.append((counted - idle) / args.calls)
                    print(
                        f"round: {raw[-1]:,.0f} instructions per call, {per_call[-1]:,.0f} less idle work",
                        flush=True,
                    )
                callgrind_control("-i", "off", str(process.pid))
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    results = {
        "benchmark": "tools_call_instructions",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "settings": {"calls": args.calls, "warmup": args.warmup, "rounds": args.rounds},
        "idle_instructions_per_s": round(idle_per_s),
        "instructions_per_call": [round(value) for value in raw],
        "instructions_per_call_less_idle": [round(value) for value in per_call],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["instructions_per_call"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
