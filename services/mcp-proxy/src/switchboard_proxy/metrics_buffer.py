"""Invocation records leave the request path through a bounded in-memory buffer.

`record()` is what a request pays: one deque append, no await, no I/O. A background
task sends what has gathered as one `Ingest` client stream per flush window (or as
soon as a full batch is waiting), in batches of `max_batch`. When the metrics service
is unreachable the records wait for the next flush; past `capacity` new records are
dropped and counted, so a metrics outage never slows or stalls a tool call.

Counters, for health pages and tests: every record ever offered is `sent`, `dropped`
or still pending. A stream that fails after some batches arrived is sent again whole,
so delivery is at least once.

A flush the metrics service will never take, however often sent (`INVALID_ARGUMENT`,
`OUT_OF_RANGE`, `RESOURCE_EXHAUSTED`: a batch larger than a gRPC message), is not put
back, or it would be sent again at the head of every later flush and no record would
ever arrive again: its batches are sent one call each, and each refused on its own is
dropped (counted in `dropped` and `refused_batches`, logged as an error). Any other
failure (the service down, slow, restarting) keeps the records for the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

import grpc
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard_core.prometheus.catalogue import METRICS_BUFFER_DROPPED, METRICS_BUFFER_PENDING
from switchboard_core.resilience.backoff import delay

logger = logging.getLogger(__name__)

# Longest wait between attempts while the metrics service stays unreachable.
MAX_RETRY_WAIT_S = 30.0
# A call's error message as a record carries it: as much as the metrics service keeps,
# so that an upstream's huge message cannot swell the buffer or a batch.
MAX_ERROR_CHARS = 2000
_NEVER_TAKEN = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class MetricsBuffer:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        flush_interval_s: float = 1.0,
        max_batch: int = 1000,
        capacity: int = 50_000,
        timeout_s: float = 5.0,
    ) -> None:
        if max_batch < 1 or capacity < 1:
            raise ValueError("max_batch and capacity must be positive")
        self._stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._capacity = capacity
        self._timeout_s = timeout_s
        self._pending: deque[metrics_pb2.Invocation] = deque()
        self._batch_ready = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.sent = 0
        self.dropped = 0
        self.failed_flushes = 0
        self.refused_batches = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, invocation: metrics_pb2.Invocation) -> None:
        """Queue one record; never blocks. Past capacity the record is dropped and counted."""
        pending = self._pending
        if len(pending) >= self._capacity:
            self._drop(1)
            return
        pending.append(invocation)
        if len(pending) >= self._max_batch:
            self._batch_ready.set()

    def start(self) -> None:
        if self._task is None:
            # The process's buffer (one proxy per process) is the one a scrape reads.
            METRICS_BUFFER_PENDING.set_function(self._pending.__len__)
            self._task = asyncio.create_task(self._run(), name="metrics-flush")

    def _drop(self, records: int) -> None:
        self.dropped += records
        METRICS_BUFFER_DROPPED.inc(records)

    async def close(self) -> None:
        """Stop the flush task and send what is left, all within `timeout_s`; the rest is dropped."""
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._flushing:  # a flush under way finishes rather than being sent twice
                    await self._stop_task()
                await self.flush()
        except TimeoutError:
            pass
        await self._stop_task()
        if self._pending:
            logger.warning(
                "dropping %d metric records: the metrics service did not take them", len(self._pending)
            )
            self._drop(len(self._pending))
            self._pending.clear()

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # wait() rather than await: a cancellation of close() itself must not be swallowed.
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                logger.error("metrics flush task failed", exc_info=task.exception())

    async def flush(self) -> bool:
        """Send everything pending in one Ingest call; on failure keep it for the next try."""
        async with self._flushing:
            if not self._pending:
                return True
            taken = list(self._pending)
            self._pending.clear()
            try:
                await self._ingest(taken)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _NEVER_TAKEN:
                    return await self._batch_by_batch(taken)
                self._failed(taken, exc)
                return False
            except BaseException:  # cancelled (close, timeout) or a bug: keep the records, re-raise
                self._put_back(taken)
                raise
            self.sent += len(taken)
            return True

    async def _batch_by_batch(self, taken: list[metrics_pb2.Invocation]) -> bool:
        """Send `taken` one batch per call, dropping each batch refused on its own; any
        other failure keeps the batches not yet sent for the next flush."""
        for start in range(0, len(taken), self._max_batch):
            batch = taken[start : start + self._max_batch]
            try:
                await self._ingest(batch)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _NEVER_TAKEN:
                    self._failed(taken[start:], exc)
                    return False
                logger.error(
                    "the metrics service will never take a batch of %d records (%s: %s): dropped",
                    len(batch),
                    exc.code().name,
                    exc.details(),
                )
                self.refused_batches += 1
                self._drop(len(batch))
                continue
            except BaseException:
                self._put_back(taken[start:])
                raise
            self.sent += len(batch)
        return True

    async def _ingest(self, records: list[metrics_pb2.Invocation]) -> None:
        # wait_for_ready: a metrics service that is restarting gets the whole deadline to come back.
        await self._stub.Ingest(self._batches(records), timeout=self._timeout_s, wait_for_ready=True)

    def _failed(self, unsent: list[metrics_pb2.Invocation], exc: grpc.aio.AioRpcError) -> None:
        self.failed_flushes += 1
        self._put_back(unsent)
        logger.warning("metrics flush of %d records failed: %s", len(unsent), exc.code().name)

    async def _batches(
        self, records: list[metrics_pb2.Invocation]
    ) -> AsyncIterator[metrics_pb2.InvocationBatch]:
        for start in range(0, len(records), self._max_batch):
            yield metrics_pb2.InvocationBatch(invocations=records[start : start + self._max_batch])

    def _put_back(self, taken: list[metrics_pb2.Invocation]) -> None:
        # Unsent records go back in front of newer ones; past capacity the oldest go.
        self._pending.extendleft(reversed(taken))
        excess = len(self._pending) - self._capacity
        for _ in range(max(excess, 0)):
            self._pending.popleft()
        if excess > 0:
            self._drop(excess)

    async def _run(self) -> None:
        failures = 0
        while True:
            if failures:
                # Do not hammer a metrics service that is down, however fast records arrive.
                await asyncio.sleep(
                    delay(
                        failures,
                        base=self._flush_interval_s,
                        cap=max(MAX_RETRY_WAIT_S, self._flush_interval_s),
                    )
                )
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval_s):
                        await self._batch_ready.wait()
            self._batch_ready.clear()
            try:
                delivered = await self.flush()
            except Exception:
                # Top of a background task: an unexpected error must not end metrics delivery.
                logger.exception("metrics flush failed unexpectedly")
                delivered = False
            failures = 0 if delivered else failures + 1
