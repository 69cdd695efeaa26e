"""Waiting for a freshly started child process to answer over HTTP."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time

import httpx

from switchboard_testing.errors import ProcessStartError

POLL_INTERVAL_S = 0.05


def wait_until_http_ok(
    url: str, *, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 60.0
) -> None:
    """Return once `GET url` answers 200; raise `ProcessStartError` if `process` exits or time runs out.

    A gateway starts in 2-10 s; the deadline is generous because a test machine running
    two workers and their stacks can be slow for a while, and a dead process fails at once."""
    deadline = time.monotonic() + timeout_s
    last_seen = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise ProcessStartError(
                    f"process exited with status {process.returncode} before {url} answered"
                )
            try:
                status = client.get(url).status_code
            except httpx.TransportError as exc:
                last_seen = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    return
                last_seen = f"HTTP {status}"
            if time.monotonic() >= deadline:
                raise ProcessStartError(f"{url} did not answer 200 within {timeout_s}s (last: {last_seen})")
            time.sleep(POLL_INTERVAL_S)


def eventually(predicate, *, timeout_s: float = 10.0, what: str = "condition"):
    """Poll `predicate()` until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {timeout_s}s")
        time.sleep(POLL_INTERVAL_S)


async def eventually_async(condition, *, within_s: float = 10.0, what: str = "condition"):
    """`eventually` for async tests: `condition()` may be a coroutine function; the event
    loop keeps running between polls (gRPC calls in flight, servers in the test)."""
    deadline = time.monotonic() + within_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met within {within_s}s")
        await asyncio.sleep(POLL_INTERVAL_S)
