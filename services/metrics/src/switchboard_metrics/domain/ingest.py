"""Ingest: admit each incoming record, then store a batch in one write."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from switchboard_metrics.domain.invocations import Invocation, admit, now_ms


class InvocationSink(Protocol):
    async def insert_many(self, records: Sequence[Invocation]) -> None: ...


class Ingestor:
    def __init__(self, sink: InvocationSink, *, clock: Callable[[], int] = now_ms) -> None:
        self._sink = sink
        self._clock = clock

    async def ingest(self, records: Iterable[Invocation]) -> list[Invocation]:
        """Store the admissible records of one batch; returns them as stored."""
        received_at = self._clock()
        admitted = [
            kept for record in records if (kept := admit(record, received_at_ms=received_at)) is not None
        ]
        await self._sink.insert_many(admitted)
        return admitted
