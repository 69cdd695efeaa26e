"""Following a server-streaming feed (revocations, catalog changes) for as long as the
process lives: reconnect with backoff when it breaks, and report each gap, since a
change may have been missed while the feed was down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import grpc

from switchboard_core.resilience.backoff import delay

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def follow(
    name: str,
    open_stream: Callable[[], AsyncIterator[T]],
    on_item: Callable[[T], None],
    on_gap: Callable[[], None],
) -> None:
    attempt = 0
    while True:
        try:
            async for item in open_stream():
                attempt = 0
                on_item(item)
        except grpc.aio.AioRpcError as exc:
            logger.debug("%s feed broke: %s", name, exc.code())
        on_gap()
        attempt += 1
        await asyncio.sleep(delay(min(attempt, 6), base=0.2, cap=5.0))
