"""Following a server-streaming feed (revocations, catalog changes) for as long as the
process lives: reconnect with backoff when it breaks, and report each gap, since a
change may have been missed while the feed was down.

What a follower caches between the gap and the new stream's start may be stale too
(a revocation made then went to nobody). A feed whose server sends its initial
metadata once it has subscribed (`WatchRevocations`) is followed with `on_open`,
called at that moment: from then on nothing is missed, so dropping the cache there
closes the window."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from switchboard_core.resilience.backoff import delay
from switchboard_core.shared.redis_client import reraise_cancellation

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def follow(
    name: str,
    open_stream: Callable[[], Any],
    on_item: Callable[[T], None],
    on_gap: Callable[[], None],
    on_open: Callable[[], None] | None = None,
) -> None:
    """`open_stream()` gives a server-streaming call (an async iterator of items)."""
    attempt = 0
    while True:
        try:
            call = open_stream()
            if on_open is not None:
                await call.initial_metadata()
                on_open()
            async for item in call:
                attempt = 0
                on_item(item)
        except grpc.aio.AioRpcError as exc:
            # A cancellation grpc turned into CANCELLED is still this task's to obey.
            reraise_cancellation()
            logger.debug("%s feed broke: %s", name, exc.code())
        on_gap()
        attempt += 1
        await asyncio.sleep(delay(min(attempt, 6), base=0.2, cap=5.0))
