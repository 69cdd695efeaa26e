"""A histogram for the hot path: observed without a lock, from one event loop.

prometheus-client's `Histogram.observe` takes a lock twice and walks its buckets in
Python: about 9,000 instructions, more than half of what timing an HTTP request costs
(`bench/edge_layers.py`). The requests of a process are served on one event loop
thread, and a scrape reads on that same loop, so nothing here needs a lock: an
observation is a `bisect` (in C), an int add and a float add on a series resolved
once per label set. A scrape renders the same series a `Histogram` would (`_bucket`
cumulative with `le`, `_sum`, `_count`).

Only code running on the event loop may observe one; anything else uses a `Histogram`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

INF = float("inf")


class Series:
    """One label set's buckets (not cumulative: each observation counts once)."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: list[float]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value


class LoopHistogram(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = sorted(float(b) for b in buckets if b != INF) + [INF]
        self._les = [floatToGoString(b) for b in self._bounds]
        self._series: dict[tuple[str, ...], Series] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> Series:
        """The series of these label values (made on first use, kept thereafter)."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = Series(self._bounds)
        return series

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in list(self._series.items()):
            cumulative, running = [], 0
            for le, count in zip(self._les, series.counts, strict=True):
                running += count
                cumulative.append((le, running))
            family.add_metric(list(values), cumulative, series.total)
        yield family
