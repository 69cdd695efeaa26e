"""Several replicas of one service in the test's process, as several processes would
run: one settings (database, Redis), and each replica its own Redis connections."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from switchboard_core.service import Runtime
from switchboard_core.shared.runtime import open_shared


class _Service(Protocol):
    async def start(self, runtime: Runtime) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=_Service)


@contextlib.asynccontextmanager
async def started_replicas(
    make: Callable[[Any], S], settings: Any, name: str, *, count: int = 2
) -> AsyncIterator[list[S]]:
    """`count` services made by `make(settings)` and started, each on shared state of its
    own (`open_shared(settings, name)`); drained (where they can be) and stopped after."""
    async with contextlib.AsyncExitStack() as stack:
        started: list[S] = []
        for _ in range(count):
            shared = await stack.enter_async_context(open_shared(settings, name))
            service = make(settings)
            await service.start(Runtime(settings, shared=shared))
            stack.push_async_callback(stop_replica, service)
            started.append(service)
        yield started


async def stop_replica(service: _Service) -> None:
    drain = getattr(service, "drain", None)
    if drain is not None:
        await drain()
    await service.stop()
