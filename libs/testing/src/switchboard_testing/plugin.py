"""The Switchboard pytest plugin (registered through the `pytest11` entry point).

Fixtures:

- `upstream`: a fixture upstream MCP server (`start_upstream()`) for one test;
- `upstream_factory`: a callable starting as many named upstreams as a test needs,
  all stopped when it ends.

Under `CI=true` a skipped test fails, with the skip reason: a test that cannot run in CI
(a missing binary, an unset variable) must be fixed in CI, not silently pass.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Protocol

import pytest

from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


class UpstreamFactory(Protocol):
    def __call__(
        self, name: str = "fixture", *, stateless: bool = False, extra_tools: int = 0
    ) -> UpstreamProcess: ...


@pytest.fixture
def upstream() -> Iterator[UpstreamProcess]:
    """A running fixture upstream MCP server (Streamable HTTP at `upstream.url`)."""
    with start_upstream() as running:
        yield running


@pytest.fixture
def upstream_factory() -> Iterator[UpstreamFactory]:
    """Start fixture upstreams by name: `upstream_factory("weather", extra_tools=3)`."""
    with contextlib.ExitStack() as stack:

        def start(name: str = "fixture", *, stateless: bool = False, extra_tools: int = 0) -> UpstreamProcess:
            return stack.enter_context(
                start_upstream(name=name, stateless=stateless, extra_tools=extra_tools)
            )

        yield start


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if running_in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skipped(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    report: pytest.CollectReport = yield
    if running_in_ci() and report.skipped:
        _fail_skipped(report)
    return report


def _fail_skipped(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped tests fail under CI=true; {reason}"
