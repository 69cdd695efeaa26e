"""Replicas of one service behind one name, and what each of them served: for showing
that internal gRPC clients spread their calls over a service's replicas and find one
added later (docs/internal-grpc.md).

On one machine the name is `localhost`, which gRPC's resolver answers with both
127.0.0.1 and ::1 (RFC 6761, whatever /etc/hosts says): two replicas listen on the same
port, one on each address. In Compose or Kubernetes the name is the service's, and
`served_calls` reads the same counters from each container or pod."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.internal import INTERNAL_ENV

# The addresses `localhost` gives gRPC's resolver, as a listening host each.
LOCALHOST_ADDRESSES = ("127.0.0.1", "[::1]")


def served_calls(base_url: str, method: str) -> int:
    """Calls of `method` (`/package.Service/Method`) a replica's gRPC server has served,
    from its `GET /internal/counters` (answered to loopback peers only)."""
    counters = httpx.get(f"{base_url}/internal/counters", timeout=5).json()["counters"]
    return int(counters.get(f"grpc.served.{method}", 0))


@contextlib.contextmanager
def start_replica(
    service: str,
    *,
    grpc_host: str,
    grpc_port: int,
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    ready: bool = True,
) -> Iterator[GatewayProcess]:
    """`switchboard serve SERVICE` with its gRPC face on `grpc_host:grpc_port` (IPv6
    hosts in brackets) and its HTTP face on a free port of 127.0.0.1; replicas given one
    `data_dir` share their SQLite databases (started one after another, so that one
    migrates them first)."""
    with start_gateway(
        {**INTERNAL_ENV, "SWITCHBOARD_GRPC_HOST": grpc_host, **(env or {})},
        command=("serve", service),
        data_dir=data_dir,
        grpc_port=grpc_port,
        ready=ready,
    ) as replica:
        yield replica
