"""Benchmark: what role-based access control adds to one `tools/call`, in CPU time.

    uv run python bench/rbac_cost.py [--iterations 200000] [--tools 200] [--gateway-results bench/results/tools_call.json]

Times, in one process and without I/O, exactly the work a warm `tools/call` does for
RBAC in the proxy: the gate's look-up of the cached catalog and `servers.use` decision
(`catalog_views.check_server`, the request's one `servers.use` decision) and the
tool's `tools.execute` decision (`dispatch._allow`), for a developer of the owning team
calling a team-visibility tool on a team-visibility server (the slowest allowed path:
public entities are decided one rule earlier, an admin two). The tool's dict look-up is
not counted: the call did it before RBAC. Compares that with the gateway's CPU time per
`tools/call`, read from a `tools_call.py` result (its `gateway.cpu_ms_per_call.gateway`),
and writes bench/results/rbac_cost.json. The RBAC share must stay under 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from pathlib import Path

import grpc
from switchboard.registry.v1 import registry_pb2
from switchboard_core.policy import BUILTIN_ROLES, Membership
from switchboard_core.principals import Principal
from switchboard_proxy import catalog_views
from switchboard_proxy.catalog import CatalogCache, render
from switchboard_proxy.dispatch import CallContext, _allow

RESULTS = Path(__file__).resolve().parent / "results"
TEAM = "team-bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--tools", type=int, default=200, help="tools in the catalog")
    parser.add_argument("--gateway-results", type=Path, default=RESULTS / "tools_call.json")
    parser.add_argument("--output", type=Path, default=RESULTS / "rbac_cost.json")
    return parser.parse_args(argv)


def developer() -> Principal:
    memberships = (
        Membership("team-elsewhere", "viewer", BUILTIN_ROLES["viewer"]),
        Membership(TEAM, "developer", BUILTIN_ROLES["developer"]),
    )
    return Principal(
        "u-dev", "dev@example.com", False, ("team-elsewhere", TEAM), "t", 2**40, memberships=memberships
    )


def catalog_reply(tools: int) -> registry_pb2.Catalog:
    access = registry_pb2.Access(owner_id="u-owner", team_id=TEAM, visibility="team")
    return registry_pb2.Catalog(
        server_id="srv",
        server_access=access,
        upstreams=[
            registry_pb2.Upstream(gateway_id="g", name="up", url="http://up", capabilities_json=b"{}")
        ],
        tools=[
            registry_pb2.ToolBinding(
                name=f"tool_{n}", upstream_name=f"tool_{n}", gateway_id="g", access=access
            )
            for n in range(tools)
        ],
    )


async def rbac_us_per_call(iterations: int, tools: int) -> float:
    channel = grpc.aio.insecure_channel("127.0.0.1:9")  # never used: the catalog is warm
    cache = CatalogCache(channel, timeout_s=1.0, ttl_s=3600.0)
    cache._catalogs["srv"] = render(catalog_reply(tools))  # as after the first fetch
    principal = developer()
    ctx = CallContext(principal, "srv", "2025-11-25")
    binding = cache._catalogs["srv"].tools_by_name[f"tool_{tools - 1}"]
    started = time.process_time()
    for _ in range(iterations):
        catalog_views.check_server(principal, await cache.get("srv"))  # the gate
        _allow(ctx, "tools.execute", binding, "tool")
    spent = time.process_time() - started
    await channel.close()
    # One of the two catalog look-ups was there before RBAC: count it anyway (an upper bound).
    return spent / iterations * 1e6


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rbac_us = asyncio.run(rbac_us_per_call(args.iterations, args.tools))
    report: dict = {
        "benchmark": "rbac_cost",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "iterations": args.iterations,
        "tools": args.tools,
        "rbac_us_per_call": round(rbac_us, 3),
    }
    print(f"RBAC work per tools/call: {rbac_us:.2f} µs CPU")
    if args.gateway_results.exists():
        gateway = json.loads(args.gateway_results.read_text())["gateway"]
        call_us = gateway["cpu_ms_per_call"]["gateway"] * 1000
        share = rbac_us / call_us
        report |= {"gateway_cpu_us_per_call": round(call_us, 1), "rbac_share": round(share, 5)}
        print(
            f"gateway CPU per tools/call: {call_us:.0f} µs ({args.gateway_results}); RBAC share {share:.2%}"
        )
    else:
        print(f"no {args.gateway_results}: run bench/tools_call.py for the share", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report.get("rbac_share", 0) < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
