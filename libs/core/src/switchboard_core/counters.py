"""Counts of the work a process sends elsewhere, to show the hot path sends none.

The design promises that a `tools/call` in the steady state makes no SQL query, no
gRPC call and no Redis round trip (docs/architecture.md); these counters are the
evidence. Each is counted where that work leaves the process:

    sql.queries                    every statement an engine of `db.create_engine` runs
    grpc.calls, grpc.calls.<method>  every call made on a channel of `grpc.Channels`
                                   (a stream counts once, when it opens)
    grpc.served, grpc.served.<method>  every call a gRPC server of `grpc.build_server`
                                   accepted (its internal token checked); how the
                                   calls spread over a service's replicas
    redis.commands                 every command (a pipeline: once, one round trip) of a
                                   client from `shared.redis_client.make_client`; the
                                   bus's own pub/sub connection (subscriptions, keep-alive
                                   PINGs) is not counted: no request causes that traffic
    cache.<name>.hits / .misses    the in-process caches in front of those calls

and services add their own (`registry.health_rounds`). `GET /internal/counters` on
every process's HTTP port serves them (see `http.app`).

One set per process, held at module level: the places that count (an engine event, a
channel interceptor, a Redis client class) are built in different layers with no
handle in common, and what is counted is the process's work however many services it
hosts. Counting is a dict increment on the event loop's thread; nothing here does I/O.
"""

from __future__ import annotations

from collections import Counter


class Counters:
    def __init__(self) -> None:
        self._values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self._values[name] += amount

    def get(self, name: str) -> int:
        return self._values[name]

    def snapshot(self) -> dict[str, int]:
        """Every counter by name, sorted, as of now."""
        return dict(sorted(self._values.items()))


COUNTERS = Counters()
