"""The fixed latency histogram of the hourly rollups, and percentiles estimated from it.

Bucket i counts durations in (BOUNDS_MS[i-1], BOUNDS_MS[i]] milliseconds; the first
starts at 0, the last (one past the bounds) holds everything above 2^17 ms (131 s).
The bounds double from 0.25 ms, so a bucket is never wider than its lower edge: an
estimate lands in the right bucket and, interpolated linearly inside it (clipped to
the smallest and largest duration seen), is off by less than that bucket's width.
Fixed bounds are what let hours and replicas be added up bucket by bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

BOUNDS_MS: tuple[float, ...] = tuple(2.0**k for k in range(-2, 18))
BUCKETS = len(BOUNDS_MS) + 1


def estimate_percentile(counts: Sequence[int], percent: int, *, min_ms: float, max_ms: float) -> float | None:
    """The duration at nearest rank ceil(percent·n/100), estimated; None for no calls."""
    total = sum(counts)
    if total == 0:
        return None
    rank = (total * percent + 99) // 100
    below = 0
    for index, count in enumerate(counts):
        if below + count >= rank:
            low, high = _edges(index, min_ms=min_ms, max_ms=max_ms)
            return low + (high - low) * (rank - below) / count
        below += count
    return max_ms  # unreachable while the counts add up to total


def _edges(index: int, *, min_ms: float, max_ms: float) -> tuple[float, float]:
    low = BOUNDS_MS[index - 1] if index > 0 else 0.0
    high = BOUNDS_MS[index] if index < len(BOUNDS_MS) else max_ms
    return max(low, min_ms), min(high, max_ms)
