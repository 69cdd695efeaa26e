"""Benchmark: `tools/call` through the Switchboard gateway vs. straight to the upstream.

    uv run python bench/tools_call.py [--duration 10] [--connections 16] [--threads 1] [--warmup 2]
                                      [--caller admin|developer]

Starts a fixture upstream MCP server (stateless, JSON responses) and a whole gateway
(`switchboard up`, embedded mode, temporary data dir), registers the upstream, creates a
virtual server exposing its `echo` tool, opens one MCP session on it, then drives the same
wrk load (`tools/call echo {"text": "hi"}`) first at the upstream directly and then through
the gateway. `--caller developer` calls as a developer of the team owning the gateway and
the server (both of `team` visibility) instead of as the platform administrator: the
A/B of what access control costs. Prints a table and writes bench/results/tools_call.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import httpx
from proc_stats import cpu_seconds, rss_bytes
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.people import add_member, create_team, create_user
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream
from wrk_runner import WrkResult, run_wrk, wrk_path, wrk_version

PROTOCOL_VERSION = "2025-06-18"
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "echo", "arguments": {"text": "hi"}},
}
BASE_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": PROTOCOL_VERSION,
}
RESULTS = Path(__file__).resolve().parent / "results" / "tools_call.json"
MIB = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per target")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (the machine is shared with servers)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unmeasured load per target first"
    )
    parser.add_argument(
        "--caller",
        choices=("admin", "developer"),
        default="admin",
        help="who calls: the platform administrator, or a developer of the owning team",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    args.threads = max(1, min(args.threads, args.connections))
    return args


class Target:
    """One endpoint under load, and the process trees whose CPU time and memory we account."""

    def __init__(self, label: str, url: str, headers: dict[str, str], processes: dict[str, int]) -> None:
        self.label, self.url, self.headers, self.processes = label, url, headers, processes

    def check_one_call(self) -> None:
        """Fail before loading if a single call does not succeed (a fast error is not a result)."""
        response = httpx.post(self.url, json=CALL, headers=self.headers, timeout=30)
        if response.status_code != 200 or '"isError":false' not in response.text.replace(" ", ""):
            raise SystemExit(
                f"{self.label}: a single tools/call failed: {response.status_code} {response.text}"
            )


def measure(target: Target, args: argparse.Namespace) -> dict:
    body = json.dumps(CALL, separators=(",", ":"))

    def load(duration: float) -> WrkResult:
        return run_wrk(
            target.url,
            body=body,
            headers=target.headers,
            duration_s=duration,
            connections=args.connections,
            threads=args.threads,
        )

    target.check_one_call()
    rss_idle = {name: rss_bytes(pid) for name, pid in target.processes.items()}
    if args.warmup > 0:
        load(args.warmup)
    cpu_before = {name: cpu_seconds(pid) for name, pid in target.processes.items()}
    result = load(args.duration)
    cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in target.processes.items()}
    return {
        **result.as_dict(),
        "cpu_ms_per_call": {
            name: round(1000 * used / result.requests, 3) if result.requests else None
            for name, used in cpu_used.items()
        },
        "rss_mib_idle": {name: round(rss / MIB, 1) for name, rss in rss_idle.items()},
        "rss_mib_after_load": {
            name: round(rss_bytes(pid) / MIB, 1) for name, pid in target.processes.items()
        },
    }


def open_gateway_target(
    gateway: GatewayProcess, upstream: UpstreamProcess, caller: str = "admin"
) -> tuple[Target, McpHttp]:
    token = gateway.mint_token()
    with httpx.Client(
        base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as admin:
        if caller == "admin":
            register(admin, "bench", upstream.url)
            server_id = create_server(admin, "bench", ["bench__echo"], bare_names=True)
        else:
            server_id, token = _team_server(gateway, admin, upstream)
    url = f"{gateway.base_url}/servers/{server_id}/mcp"
    session = McpHttp(url, token, protocol_version=PROTOCOL_VERSION)
    session.initialize()
    headers = {
        **BASE_HEADERS,
        "Authorization": f"Bearer {token}",
        "Mcp-Session-Id": session.session_id or "",
        "MCP-Protocol-Version": session.protocol_version,
    }
    processes = {"gateway": gateway.process.pid, "upstream": upstream.process.pid}
    return Target("gateway", url, headers, processes), session


def _team_server(gateway: GatewayProcess, admin: httpx.Client, upstream: UpstreamProcess) -> tuple[str, str]:
    """A team-visibility gateway and server of a team, and a token of a developer in it."""
    team_id = create_team(admin, "bench-team")
    create_user(admin, "bench-developer@example.com")
    add_member(admin, team_id, "bench-developer@example.com", "developer")
    owned = {"team_id": team_id, "visibility": "team"}
    registered = admin.post("/gateways", json={"name": "bench", "url": upstream.url, **owned})
    assert registered.status_code == 201, registered.text
    server = admin.post(
        "/servers", json={"name": "bench", "tools": ["bench__echo"], "bare_names": True, **owned}
    )
    assert server.status_code == 201, server.text
    return server.json()["id"], gateway.mint_token("bench-developer@example.com")


def git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None


def print_table(direct: dict, gateway: dict) -> None:
    rows = [
        ("requests/s", ("requests_per_s",), "{:.1f}"),
        ("requests", ("requests",), "{}"),
        ("latency p50 ms", ("latency_ms", "p50"), "{:.2f}"),
        ("latency p99 ms", ("latency_ms", "p99"), "{:.2f}"),
        ("non-2xx", ("non_2xx",), "{}"),
        ("failed answers", ("failed_answers",), "{}"),
        ("gateway CPU ms/call", ("cpu_ms_per_call", "gateway"), "{:.3f}"),
        ("upstream CPU ms/call", ("cpu_ms_per_call", "upstream"), "{:.3f}"),
        ("gateway RSS MiB idle", ("rss_mib_idle", "gateway"), "{:.1f}"),
        ("gateway RSS MiB loaded", ("rss_mib_after_load", "gateway"), "{:.1f}"),
    ]

    def cell(result: dict, path: tuple[str, ...], fmt: str) -> str:
        value = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return "-" if value is None else fmt.format(value)

    print(f"\n{'':24}{'direct upstream':>18}{'via gateway':>18}")
    for label, path, fmt in rows:
        print(f"{label:24}{cell(direct, path, fmt):>18}{cell(gateway, path, fmt):>18}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    with start_upstream(name="bench", stateless=True) as upstream:
        direct_target = Target("direct", upstream.url, dict(BASE_HEADERS), {"upstream": upstream.process.pid})
        print(f"direct:  {args.duration:g}s x {args.connections} connections -> {upstream.url}", flush=True)
        direct = measure(direct_target, args)

        # The product default; the test harness shortens it to see metrics sooner.
        with start_gateway({"SWITCHBOARD_METRICS_FLUSH_INTERVAL_S": "1.0"}) as gateway:
            gateway_target, _session = open_gateway_target(gateway, upstream, args.caller)
            print(
                f"gateway: {args.duration:g}s x {args.connections} connections -> {gateway_target.url}",
                flush=True,
            )
            via_gateway = measure(gateway_target, args)

    valid = direct["valid"] and via_gateway["valid"]
    report = {
        "benchmark": "tools_call",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "valid": valid,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "caller": args.caller,
            "wrk_threads": args.threads,
            "protocol_version": PROTOCOL_VERSION,
            "call": CALL["params"],
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": wrk_version(),
        },
        "direct": direct,
        "gateway": via_gateway,
        "gateway_to_direct_throughput": round(via_gateway["requests_per_s"] / direct["requests_per_s"], 3),
        "gateway_added_latency_p50_ms": round(
            via_gateway["latency_ms"]["p50"] - direct["latency_ms"]["p50"], 3
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print_table(direct, via_gateway)
    print(f"\nthroughput ratio (gateway / direct): {report['gateway_to_direct_throughput']:.3f}")
    print(f"results: {args.output}")
    if not valid:
        print("INVALID RUN: some requests failed (non-2xx, socket errors or failed answers); see the JSON.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
