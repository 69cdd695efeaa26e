"""The hot path's lock-free histogram renders what a prometheus-client `Histogram` would:
cumulative buckets where a value on a bound counts in that bound's bucket, a sum, a count."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE, STDOUT

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from switchboard_core.prometheus.loop_histogram import LoopHistogram

BUCKETS = (0.01, 0.1, 1.0)
VALUES = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0)


def rendered(kind) -> str:
    registry = CollectorRegistry()
    histogram = kind(
        "test_duration_seconds", "Test durations.", ("route",), buckets=BUCKETS, registry=registry
    )
    for value in VALUES:
        histogram.labels("/a").observe(value)
    histogram.labels("/b").observe(0.2)
    return generate_latest(registry).decode()


def series_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith("test_") and "_created" not in line)


def test_it_renders_the_series_a_prometheus_client_histogram_renders() -> None:
    mine = series_lines(rendered(LoopHistogram))
    assert mine == series_lines(rendered(Histogram))
    assert 'test_duration_seconds_bucket{le="0.01",route="/a"} 2.0' in mine
    assert 'test_duration_seconds_bucket{le="+Inf",route="/a"} 7.0' in mine
    assert 'test_duration_seconds_count{route="/b"} 1.0' in mine


def test_label_values_must_match_its_label_names() -> None:
    histogram = LoopHistogram("x_seconds", "x", ("a", "b"), buckets=BUCKETS, registry=None)
    with pytest.raises(ValueError, match="takes labels"):
        histogram.labels("only-one")


async def test_its_exposition_passes_promtool() -> None:
    promtool = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    output, _ = await asyncio.wait_for(promtool.communicate(rendered(LoopHistogram).encode()), 30)
    assert promtool.returncode == 0, output.decode()
