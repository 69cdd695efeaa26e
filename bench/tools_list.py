"""Benchmark: tools/list of a large federated catalog from the gateway's warm cache.

    uv run python bench/tools_list.py [--upstreams 50] [--tools-per-upstream 100] [--duration 5]

Starts `--upstreams` fixture upstreams with `--tools-per-upstream` tools each, registers
them all, opens an MCP session on `/mcp` (every tool, gateway-prefixed names) and has
wrk ask `tools/list` over one connection for `--duration` seconds, after a warm-up.
The whole catalog comes back in one answer (the page size is raised to hold it), so
the figure is the cost of listing everything, not of one page. Prints p50/p99 latency
and the gateway's CPU per list; writes bench/results/tools_list.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import httpx
from proc_stats import cpu_seconds, rss_bytes
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import start_upstream
from wrk_runner import run_wrk, wrk_path

RESULTS = Path(__file__).resolve().parent / "results" / "tools_list.json"
FIXTURE_TOOLS = 9  # the fixture upstream's own tools, besides the extra ones


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upstreams", type=int, default=50)
    parser.add_argument("--tools-per-upstream", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    total = args.upstreams * args.tools_per_upstream
    extra = max(0, args.tools_per_upstream - FIXTURE_TOOLS)
    with contextlib.ExitStack() as stack:
        print(f"starting {args.upstreams} upstreams with {args.tools_per_upstream} tools each", flush=True)
        upstreams = [
            stack.enter_context(start_upstream(name=f"u{i}", extra_tools=extra))
            for i in range(args.upstreams)
        ]
        gateway = stack.enter_context(start_gateway({"SWITCHBOARD_LIST_PAGE_SIZE": str(total)}))
        token = gateway.mint_token()
        with httpx.Client(
            base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}, timeout=60
        ) as admin:
            for i, upstream in enumerate(upstreams):
                register(admin, f"u{i}", upstream.url)
        session = McpHttp(f"{gateway.base_url}/mcp", token)
        session.initialize()
        listed = session.request("tools/list")["result"]["tools"]
        if len(listed) != total:
            raise SystemExit(f"expected {total} tools in one answer, got {len(listed)}")
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "Mcp-Session-Id": session.session_id or "",
            "MCP-Protocol-Version": session.protocol_version,
        }
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

        def load(seconds: float):
            return run_wrk(
                session.url,
                body=body,
                headers=headers,
                duration_s=seconds,
                connections=1,
                threads=1,
                expect='"tools"%s*:%s*%[',
            )

        load(2)
        pid = gateway.process.pid
        cpu_before = cpu_seconds(pid)
        result = load(args.duration)
        cpu = cpu_seconds(pid) - cpu_before
        report = {
            "benchmark": "tools_list",
            "tools": total,
            "upstreams": args.upstreams,
            "valid": result.valid,
            **result.as_dict(),
            "answer_bytes": len(json.dumps({"tools": listed})),
            "gateway_cpu_ms_per_list": round(1000 * cpu / result.requests, 3) if result.requests else None,
            "gateway_rss_mib": round(rss_bytes(pid) / 2**20, 1),
        }
    latency = report["latency_ms"]
    print(f"tools/list of {total} tools from {args.upstreams} upstreams, warm cache, 1 connection:")
    print(f"  lists/s {report['requests_per_s']}   p50 {latency['p50']} ms   p99 {latency['p99']} ms")
    print(
        f"  gateway CPU per list {report['gateway_cpu_ms_per_list']} ms   answer {report['answer_bytes']} bytes"
    )
    print(f"  gateway RSS {report['gateway_rss_mib']} MiB   valid: {report['valid']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
