"""Benchmark: `tools/call` through the distributed topology (nginx in front of two
mcp-proxy replicas, Redis, Postgres behind PgBouncer) vs. straight to the upstream.

    uv run python bench/tools_call_stack.py [--duration 10] [--connections 16] [--proxy-replicas 2]

Starts the fixture upstream (stateless, JSON answers) and `switchboard stack up`,
registers the upstream through nginx, opens one MCP session, and drives the same wrk
load as bench/tools_call.py at the upstream directly, then through nginx. CPU time is
accounted per tier (nginx, each service's replicas, Redis, PgBouncer, Postgres, the
upstream). Prints a table and writes bench/results/tools_call_stack.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import httpx
from proc_stats import cpu_seconds
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.stack import StackProcess, start_stack
from switchboard_testing.upstream_process import start_upstream
from tools_call import BASE_HEADERS, CALL, PROTOCOL_VERSION, Target, git_commit
from wrk_runner import run_wrk, wrk_path, wrk_version

RESULTS = Path(__file__).resolve().parent / "results" / "tools_call_stack.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--proxy-replicas", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def tiers(stack: StackProcess) -> dict[str, list[int]]:
    """The stack's processes grouped by tier (a tier's CPU is the sum of its processes')."""
    grouped: dict[str, list[int]] = defaultdict(list)
    for process in stack.state["processes"]:
        grouped[process["group"]].append(process["pid"])
    return dict(grouped)


def load(target: Target, args: argparse.Namespace, pids: dict[str, list[int]]) -> dict:
    body = json.dumps(CALL, separators=(",", ":"))
    target.check_one_call()

    def run(duration: float):
        return run_wrk(
            target.url,
            body=body,
            headers=target.headers,
            duration_s=duration,
            connections=args.connections,
            threads=args.threads,
        )

    if args.warmup:
        run(args.warmup)
    before = {tier: sum(cpu_seconds(pid) for pid in group) for tier, group in pids.items()}
    result = run(args.duration)
    used = {tier: sum(cpu_seconds(pid) for pid in group) - before[tier] for tier, group in pids.items()}
    return {
        **result.as_dict(),
        "cpu_ms_per_call": {
            tier: round(1000 * seconds / result.requests, 3) if result.requests else None
            for tier, seconds in used.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    with start_upstream(name="bench", stateless=True) as upstream:
        upstream_pids = {"upstream": [upstream.process.pid]}
        direct = load(Target("direct", upstream.url, dict(BASE_HEADERS), {}), args, upstream_pids)
        # nginx's rate limits are the product's defaults for clients; a benchmark is not one.
        with start_stack(
            proxy_replicas=args.proxy_replicas,
            show_upstream=False,
            rate_limit=1_000_000,
            rate_burst=1_000_000,
        ) as stack:
            token = stack.login()
            with httpx.Client(
                base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as admin:
                register(admin, "bench", upstream.url)
                server_id = create_server(admin, "bench", ["bench__echo"], bare_names=True)
            url = f"{stack.url}/servers/{server_id}/mcp"
            session = McpHttp(url, token, protocol_version=PROTOCOL_VERSION)
            session.initialize()
            headers = {
                **BASE_HEADERS,
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session.session_id or "",
            }
            through = load(Target("stack", url, headers, {}), args, tiers(stack) | upstream_pids)
    report = {
        "benchmark": "tools_call_stack",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "valid": direct["valid"] and through["valid"],
        "settings": {**vars(args), "output": str(args.output), "protocol_version": PROTOCOL_VERSION},
        "machine": {"cpus": os.cpu_count(), "wrk": wrk_version()},
        "direct": direct,
        "through_nginx": through,
        "throughput_ratio": round(through["requests_per_s"] / direct["requests_per_s"], 3),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'':28}{'direct':>12}{'through nginx':>16}")
    for label, key in (("requests/s", "requests_per_s"), ("requests", "requests"), ("non-2xx", "non_2xx")):
        print(f"{label:28}{direct[key]:>12.1f}{through[key]:>16.1f}")
    print(f"{'latency p50 ms':28}{direct['latency_ms']['p50']:>12.2f}{through['latency_ms']['p50']:>16.2f}")
    print(f"{'latency p99 ms':28}{direct['latency_ms']['p99']:>12.2f}{through['latency_ms']['p99']:>16.2f}")
    print("\nCPU ms per call, by tier (through nginx):")
    for tier, ms in sorted(through["cpu_ms_per_call"].items()):
        print(f"  {tier:26}{ms:>10.3f}")
    print(f"\nthroughput ratio (through nginx / direct): {report['throughput_ratio']:.3f}")
    print(f"results: {args.output}")
    return 0 if report["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
