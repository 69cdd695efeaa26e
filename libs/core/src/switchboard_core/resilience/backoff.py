"""Retry with exponential backoff and jitter for dependency connections.

sleep = min(base * 2**(attempt-1), cap) * (1 ± jitter*random)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


def delay(attempt: int, *, base: float, cap: float = 30.0, jitter: float = 0.25) -> float:
    raw = min(base * 2 ** (attempt - 1), cap)
    return raw * (1 + jitter * (2 * random.random() - 1))


async def retry(
    what: str,
    attempt_once: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...],
    attempts: int = 30,
    base: float = 2.0,
) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await attempt_once()
        except retry_on as exc:
            if attempt == attempts:
                raise
            pause = delay(attempt, base=base)
            logger.warning(
                "%s failed (attempt %d/%d): %s; retrying in %.1fs", what, attempt, attempts, exc, pause
            )
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")
