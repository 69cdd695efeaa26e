"""The Switchboard pytest plugin (registered through the `pytest11` entry point).

Fixtures:

- `upstream`: a fixture upstream MCP server (`start_upstream()`) for one test;
- `upstream_factory`: a callable starting as many named upstreams as a test needs,
  all stopped when it ends;
- `postgres` / `pgbouncer` (session): a private Postgres started from the installed
  binaries, and PgBouncer in transaction pooling mode in front of it;
- `postgres_database`: a fresh database for one test (URLs through PgBouncer and direct);
- `database_url`: parametrizes a test over ["sqlite", "postgres"], giving a fresh
  database URL on each (Postgres through PgBouncer).
- `stack` (per module; options from the `stack_options` fixture): `switchboard stack up`,
  the distributed shape behind nginx (switchboard_testing.stack);
- `redis_server`: a private Redis on a free port (switchboard_testing.redis_server).
- `switchboard_images` (session): the Switchboard image (`deploy/docker/Dockerfile`) built
  on a Debian base made with debootstrap, each built at most once per run and reused
  while its inputs are unchanged (switchboard_testing.docker_images); `.app` is the tag.
  Cold, it takes minutes: a test using it raises its timeout (`pytest.mark.timeout(900)`).

Settings made in a test carry the test deployment's internal gRPC token
(switchboard_testing.internal), as every service of a deployment would.

Under `CI=true` a skipped test fails, with the skip reason: a test that cannot run in CI
(a missing binary, an unset variable) must be fixed in CI, not silently pass.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from switchboard_core.ports import RANGE_VARIABLE, slice_of

from switchboard_testing.errors import MissingBinary
from switchboard_testing.internal import INTERNAL_ENV
from switchboard_testing.pgbouncer import PgBouncer, start_pgbouncer
from switchboard_testing.postgres import FreshDatabases, PostgresServer, start_postgres
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


def pytest_configure(config: pytest.Config) -> None:
    for key, value in INTERNAL_ENV.items():
        os.environ.setdefault(key, value)
    # Test processes load gRPC and fork daemons (Redis, Postgres) with a preexec_fn: gRPC's
    # fork handlers then ran in the child before its exec, which now and then aborted it
    # ("epoll_wait error: Bad file descriptor"). The children exec at once: no handler needed.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    # Parallel workers (and the stacks each starts) pick free ports in slices of their own:
    # two picking the same port at once made one server find it taken, or worse, share it.
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > 1:
        if ports := slice_of(int(worker[2:]), int(count)):
            os.environ[RANGE_VARIABLE] = ports


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


@dataclass(frozen=True)
class PostgresDatabase:
    """A database of its own for one test: `url` through PgBouncer (as services reach
    it), `direct_url` straight to Postgres."""

    name: str
    url: str
    direct_url: str


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private Postgres for the whole session (skipped, so failed under CI, if not installed)."""
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(start_postgres())
        except MissingBinary as exc:
            pytest.skip(str(exc))
        yield running


@pytest.fixture(scope="session")
def pgbouncer(postgres: PostgresServer) -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling mode in front of `postgres`."""
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(start_pgbouncer(postgres))
        except MissingBinary as exc:
            pytest.skip(str(exc))
        yield running


@pytest.fixture(scope="session")
def fresh_databases(postgres: PostgresServer) -> Iterator[FreshDatabases]:
    """Empty databases on `postgres`, made ahead of the tests that take them."""
    supply = FreshDatabases(postgres)
    try:
        yield supply
    finally:
        supply.close()


@pytest.fixture
def postgres_database(
    postgres: PostgresServer, pgbouncer: PgBouncer, fresh_databases: FreshDatabases
) -> Iterator[PostgresDatabase]:
    """A fresh, empty database for this test, dropped after it."""
    name = fresh_databases.take()
    try:
        yield PostgresDatabase(name, pgbouncer.url(name), postgres.url(name))
    finally:
        fresh_databases.discard(name)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for this test, once on each backend: a SQLite file, then a
    Postgres database reached through PgBouncer (started only when a test needs it)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_database").url


# --- distributed mode: `switchboard stack up`, Redis -----------------------------------
# (imported when first used: most test runs never start a stack)


@pytest.fixture(scope="module")
def stack_options() -> dict:
    """Keyword arguments of `start_stack` for the module's `stack`; a test module overrides
    this fixture to ask for other replica counts or limits."""
    return {}


@pytest.fixture(scope="module")
def stack(stack_options: dict):
    """`switchboard stack up` (Postgres, PgBouncer, Redis, two mcp-proxy replicas and one
    of every other service, nginx in front) for one test module: a `StackProcess`."""
    from switchboard_testing.stack import missing_binaries, start_stack

    if missing := missing_binaries(sqlite=stack_options.get("sqlite", False)):
        pytest.skip(
            f"the stack needs {', '.join(missing)}: apt-get install postgresql pgbouncer redis-server nginx"
        )
    with start_stack(**stack_options) as running:
        yield running


@pytest.fixture
def redis_server():
    """A private `redis-server` on a free port for one test: a `RedisServer` (`.url`)."""
    from switchboard_testing.redis_server import redis_binary, start_redis

    if redis_binary() is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    with start_redis() as running:
        yield running


# --- containers: the image built from deploy/docker/Dockerfile -------------------------


@pytest.fixture(scope="session")
def switchboard_images():
    """The base and the Switchboard image, as `docker_images.Images` (`.app`, `.base`)."""
    from switchboard_testing.docker_images import docker_problem, ensure_images

    if problem := docker_problem():
        pytest.skip(problem)
    try:
        return ensure_images()
    except MissingBinary as exc:
        pytest.skip(str(exc))
