"""The scrape: the process's registry rendered, and what `counters` counts exported.

`render(accept)` answers `GET /internal/metrics`: the Prometheus text format, or
OpenMetrics when the scraper asks for it (Prometheus does, and OpenMetrics carries
exemplars and `_created` series).

`CountersCollector` turns the plain `counters.COUNTERS` increments the hot path already
makes into Prometheus counters when a scrape asks, so counting a cache hit stays one
dict increment:

    cache.<name>.hits / .misses / .shared_hits
        switchboard_cache_requests_total{cache, result="hit"|"miss"|"shared_hit"}
    sql.queries       switchboard_sql_statements_total
    redis.commands    switchboard_redis_commands_total

`grpc.calls` and `grpc.served` are not exported: the gRPC histograms
(`switchboard_grpc_*_handling_seconds_count`) count the same calls, with their codes.
`switchboard_build_info{version}` is 1, the usual way to put a version on a dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard_core.counters import COUNTERS, Counters

# The `result` label of each cache counter suffix.
_CACHE_RESULTS = {"hits": "hit", "misses": "miss", "shared_hits": "shared_hit"}


def _version() -> str:
    try:
        return metadata.version("switchboard-core")
    except metadata.PackageNotFoundError:
        return "unknown"


class CountersCollector(Collector):
    """`counters.COUNTERS`, read at scrape time as Prometheus counters."""

    def __init__(self, counters: Counters = COUNTERS, *, version: str | None = None) -> None:
        self._counters = counters
        self._version = version if version is not None else _version()

    def describe(self) -> list[Metric]:
        # Names without values: the registry checks them against the others when it
        # registers this, and never calls `collect` for it.
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(self._counters.snapshot()))

    def _families(self, values: dict[str, int]) -> list[Metric]:
        cache = CounterMetricFamily(
            "switchboard_cache_requests",
            "Lookups of the in-process caches (principals, catalog, views) and of their "
            "shared Redis level, by cache and result (hit, miss, shared_hit: a miss here "
            "that the shared level answered).",
            labels=("cache", "result"),
        )
        sql = CounterMetricFamily(
            "switchboard_sql_statements", "SQL statements the process's database engines ran."
        )
        redis = CounterMetricFamily(
            "switchboard_redis_commands",
            "Round trips to Redis (a pipeline counts once; the bus's pub/sub connection not at all).",
        )
        build = GaugeMetricFamily(
            "switchboard_build_info", "The version this process runs (always 1).", labels=("version",)
        )
        build.add_metric((self._version,), 1)
        if values:
            sql.add_metric((), values.get("sql.queries", 0))
            redis.add_metric((), values.get("redis.commands", 0))
        for name, value in values.items():
            if name.startswith("cache."):
                cache_name, _, suffix = name[len("cache.") :].rpartition(".")
                result = _CACHE_RESULTS.get(suffix)
                if cache_name and result is not None:
                    cache.add_metric((cache_name, result), value)
        return [cache, sql, redis, build]


_COLLECTOR = CountersCollector()
REGISTRY.register(_COLLECTOR)


def render(accept: str | None, registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The scrape's body and its content type, in the format `accept` asks for."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
