"""The Prometheus exporters of the tiers around Switchboard (Debian packages
prometheus-postgres-exporter, -redis-exporter, -nginx-exporter, -pgbouncer-exporter),
pointed at a running `switchboard stack up`, each on a free loopback port.

Each reads its tier with the stack's own credentials: Postgres and PgBouncer as the
services' role (the stack makes it a PgBouncer `stats_users` member), Redis without a
password (the stack's has none), nginx's `stub_status` at `/nginx_status`, which the
template allows from loopback only.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from switchboard_testing.errors import MissingBinary, ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.prometheus_server import METRICS_PATH, ScrapeJob
from switchboard_testing.readiness import wait_until_http_ok
from switchboard_testing.stack import StackProcess

EXPORTERS = ("postgres", "redis", "nginx", "pgbouncer")
STOP_TIMEOUT_S = 10.0
# The database the Postgres exporter connects to (it reads server-wide views from any).
_DATABASE_URL_VARIABLE = "SWITCHBOARD_AUTH_DATABASE_URL"


_SYSTEM_PYTHON = "/usr/bin/python3"
# Debian's PgBouncer exporter (1.7) exits at start against PgBouncer 1.18; the shipped
# wrapper runs it with the column PgBouncer renamed (read its docstring).
_PGBOUNCER_EXPORTER = (
    Path(__file__).resolve().parents[4] / "deploy" / "monitoring" / "exporters" / "pgbouncer_exporter.py"
)


@dataclass(frozen=True)
class Exporter:
    name: str
    address: str  # host:port of its /metrics
    process: subprocess.Popen
    log_path: Path


def binary(name: str) -> str | None:
    return shutil.which(f"prometheus-{name}-exporter")


def missing_exporters() -> list[str]:
    return [f"prometheus-{name}-exporter" for name in EXPORTERS if binary(name) is None]


def _commands(stack: StackProcess, port: int, name: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of exporter `name` for `stack`, serving on `port`."""
    topology = stack.state["topology"]
    listen = f"127.0.0.1:{port}"
    database = urlsplit(stack.state["env"][_DATABASE_URL_VARIABLE])
    user, password = unquote(database.username or ""), unquote(database.password or "")
    exe = binary(name)
    assert exe is not None
    if name == "postgres":
        dsn = (
            f"postgresql://{database.username}:{database.password}@127.0.0.1:{topology['postgres_port']}"
            f"{database.path}?sslmode=disable"
        )
        return [exe, f"--web.listen-address={listen}"], {"DATA_SOURCE_NAME": dsn}
    if name == "redis":
        return [
            exe,
            f"-redis.addr=redis://127.0.0.1:{topology['redis_port']}",
            f"-web.listen-address={listen}",
        ], {}
    if name == "nginx":
        return [
            exe,
            f"-nginx.scrape-uri={stack.url}/nginx_status",
            f"-web.listen-address={listen}",
        ], {}
    # pgbouncer: the Debian exporter (Python, libpq) takes the password from PGPASSWORD.
    return [
        _SYSTEM_PYTHON,
        str(_PGBOUNCER_EXPORTER),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--pgbouncer-host", "127.0.0.1", "--pgbouncer-port", str(topology["pgbouncer_port"])),
        *("--pgbouncer-user", user),
    ], {"PGPASSWORD": password}


@contextlib.contextmanager
def start_exporters(stack: StackProcess) -> Iterator[dict[str, Exporter]]:
    """The four exporters for `stack` (a Postgres one: not `--sqlite`), each answering
    `/metrics`; stopped on exit."""
    if missing := missing_exporters():
        raise MissingBinary(f"not installed: {', '.join(missing)} (apt-get install them)")
    root = Path(tempfile.mkdtemp(prefix="switchboard-exporters-"))
    running: dict[str, Exporter] = {}
    try:
        for name in EXPORTERS:
            port = free_port()
            argv, env = _commands(stack, port, name)
            log_path = root / f"{name}.log"
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    argv,
                    env={"PATH": "/usr/bin:/bin", **env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            running[name] = Exporter(name, f"127.0.0.1:{port}", process, log_path)
        for exporter in running.values():
            try:
                wait_until_http_ok(
                    f"http://{exporter.address}/metrics", process=exporter.process, timeout_s=30
                )
            except ProcessStartError as exc:
                raise ProcessStartError(
                    f"{exporter.name} exporter: {exc}\n{exporter.log_path.read_text()}"
                ) from None
        yield running
    finally:
        for exporter in running.values():
            _stop(exporter.process)
        shutil.rmtree(root, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stack_jobs(stack: StackProcess, exporters: Mapping[str, Exporter]) -> list[ScrapeJob]:
    """Scrape jobs as deploy/monitoring/prometheus/prometheus.yml names them: one
    `switchboard-<service>` job over every replica's HTTP port, one job per exporter."""
    replicas = stack.state["topology"]["replicas"]
    return [
        *(
            ScrapeJob(f"switchboard-{service}", stack.replica_addresses(service), METRICS_PATH)
            for service in replicas
        ),
        *(ScrapeJob(name, [exporter.address]) for name, exporter in exporters.items()),
    ]
