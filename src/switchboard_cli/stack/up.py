"""`switchboard stack up`: the distributed shape on one machine, as processes on loopback.

Postgres (PgBouncer in front), Redis, nginx, then the services: the first replica of
each (the first start creates a service's tables and the bootstrap admin, which
concurrent first starts would race on), then the others. When everything answers,
`<dir>/stack.json` says where it all is, `<dir>/stack.env` points the CLI at it, and a
banner is printed. Ctrl-C or SIGTERM stops every process; so does any of them exiting.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from switchboard_cli.stack import binaries, credentials, nginx, pgbouncer, postgres, redis, services
from switchboard_cli.stack.accounts import Account, daemon_account
from switchboard_cli.stack.credentials import Credentials
from switchboard_cli.stack.errors import StackDirError, StackError
from switchboard_cli.stack.processes import Supervisor
from switchboard_cli.stack.topology import SERVICES, WITH_DATABASE, Topology, plan

STATE_FILE = "stack.json"
ENV_FILE = "stack.env"
WATCH_INTERVAL_S = 0.5


@dataclass
class Options:
    stack_dir: Path
    public_port: int
    replicas: dict[str, int]
    sqlite: bool = False
    limits: nginx.Limits = field(default_factory=nginx.Limits)
    show_upstream: bool = False
    restart_replicas: bool = False


def run(options: Options) -> int:
    try:
        bins = binaries.require(_needed(options.sqlite))
        with _locked(options.stack_dir):
            return _run(options, bins)
    except StackError as exc:
        print(f"switchboard stack: {exc}", file=sys.stderr, flush=True)
        return exc.exit_status


def _run(options: Options, bins: dict[str, str]) -> int:
    stack_dir = options.stack_dir
    state = stack_dir / STATE_FILE
    state.unlink(missing_ok=True)
    stop = StopRequest()
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervisor = Supervisor(stack_dir / "logs")
    supervisor.restart_replicas = options.restart_replicas
    status = 0
    try:
        topology = plan(options.replicas, public_port=options.public_port, with_postgres=not options.sqlite)
        creds = credentials.load_or_create(stack_dir)
        env = _start(supervisor, options, bins, topology, creds)
        _write_state(stack_dir, topology, creds, env, supervisor)
        print(_banner(options, topology, creds), flush=True)
        while not stop.requested:
            if supervisor.check():
                _write_state(stack_dir, topology, creds, env, supervisor)  # new pids
            time.sleep(WATCH_INTERVAL_S)
    except KeyboardInterrupt:
        pass
    except StackError as exc:
        print(f"switchboard stack: {exc}", file=sys.stderr, flush=True)
        status = exc.exit_status
    finally:
        if stop.requested:
            print("Stopping the Switchboard stack ...", flush=True)
        # A second Ctrl-C must not cut the stop short and leave processes behind.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        state.unlink(missing_ok=True)
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Switchboard stack stopped.", flush=True)
    return status


def _start(
    supervisor: Supervisor, options: Options, bins: dict[str, str], topology: Topology, creds: Credentials
) -> dict[str, str]:
    stack_dir = options.stack_dir
    account = daemon_account()
    if topology.postgres_port is not None and topology.pgbouncer_port is not None:
        postgres.start(
            supervisor,
            bins=bins,
            root=stack_dir / "postgres",
            port=topology.postgres_port,
            credentials=creds,
            account=account,
        )
    redis.start(supervisor, bins=bins, root=stack_dir / "redis", port=topology.redis_port, account=account)
    _start_nginx(supervisor, options, bins["nginx"], topology, account)
    if topology.postgres_port is not None and topology.pgbouncer_port is not None:
        postgres.wait_ready(supervisor, port=topology.postgres_port, credentials=creds)
        postgres.ensure_databases(port=topology.postgres_port, credentials=creds, services=WITH_DATABASE)
        pgbouncer.start(
            supervisor,
            bins=bins,
            root=stack_dir / "pgbouncer",
            port=topology.pgbouncer_port,
            postgres_port=topology.postgres_port,
            credentials=creds,
            account=account,
        )
        pgbouncer.wait_ready(
            supervisor,
            port=topology.pgbouncer_port,
            database=postgres.database_name("auth"),
            credentials=creds,
        )
    redis.wait_ready(supervisor, port=topology.redis_port)
    nginx.wait_ready(supervisor, port=topology.public_port)

    env = services.shared_env(topology, creds, stack_dir=stack_dir, sqlite=options.sqlite)
    base_env = {**os.environ, **env}
    first = [topology.replicas[s][0] for s in SERVICES]
    rest = [r for s in SERVICES for r in topology.replicas[s][1:]]
    for wave in (first, rest):
        for replica in wave:
            services.start(supervisor, replica, base_env=base_env)
        for replica in wave:
            services.wait_ready(supervisor, replica)
    return env


def _start_nginx(
    supervisor: Supervisor, options: Options, binary: str, topology: Topology, account: Account | None
) -> None:
    run_dir = (options.stack_dir / "nginx").resolve()
    text = nginx.config(topology, run_dir, limits=options.limits, show_upstream=options.show_upstream)
    conf = nginx.write(run_dir, text, account)
    nginx.check(binary, conf, account=account)
    nginx.start(supervisor, nginx=binary, conf=conf, account=account)


def _write_state(
    stack_dir: Path, topology: Topology, creds: Credentials, env: dict[str, str], supervisor: Supervisor
) -> None:
    state = {
        "url": topology.public_url,
        "topology": topology.to_dict(),
        "env": env,
        "admin": {"email": creds.admin_email, "password": creds.admin_password},
        "processes": [
            {"name": c.name, "group": c.group, "pid": c.pid, "log": str(c.log_path)}
            for c in supervisor.children
        ],
    }
    _write_private(stack_dir / ENV_FILE, "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    # Written whole, then renamed: a reader waiting for it never sees half of it.
    partial = stack_dir / f".{STATE_FILE}.partial"
    _write_private(partial, json.dumps(state, indent=2))
    partial.replace(stack_dir / STATE_FILE)


def _write_private(path: Path, text: str) -> None:
    """`text` in `path`, readable by this user only from the first byte on (they hold the
    stack's secrets), also when an older file was not."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)
        out.write(text)


def _banner(options: Options, topology: Topology, creds: Credentials) -> str:
    url = topology.public_url
    counts = ", ".join(f"{s} x{len(topology.replicas[s])}" for s in SERVICES)
    env_file = options.stack_dir / ENV_FILE
    if topology.pgbouncer_port is not None:
        databases = ", ".join(postgres.database_name(s) for s in WITH_DATABASE)
        storage = (
            f"Postgres 127.0.0.1:{topology.postgres_port} behind PgBouncer 127.0.0.1:{topology.pgbouncer_port} "
            f"(transaction pooling): {databases}"
        )
    else:
        storage = f"SQLite files in {options.stack_dir / 'data'}"
    login = json.dumps({"email": creds.admin_email, "password": creds.admin_password})
    return f"""
Switchboard stack is up (distributed mode on this machine)
  Gateway (nginx)  {url}   MCP {url}/mcp, {url}/servers/<id>/mcp, {url}/rpc
                   admin {url}/gateways /servers /tools /auth/... /metrics/...   docs {url}/docs
  Replicas         {counts}   (every port: {options.stack_dir / STATE_FILE})
  Storage          {storage}
  Redis            {topology.redis_url}
  Admin            {creds.admin_email} / {creds.admin_password}
  Get a token      curl -s {url}/auth/login -H 'content-type: application/json' -d '{login}'
                   or: . {env_file} && uv run switchboard token create
  Logs             {options.stack_dir / "logs"}/
Press Ctrl-C to stop everything.
"""


def _needed(sqlite: bool) -> list[str]:
    daemons = ["redis-server", "nginx"]
    return daemons if sqlite else ["initdb", "postgres", "pgbouncer", *daemons]


@contextlib.contextmanager
def _locked(stack_dir: Path) -> Iterator[None]:
    stack_dir.mkdir(parents=True, exist_ok=True)
    with open(stack_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackDirError(f"another `switchboard stack up` is running in {stack_dir}") from None
        yield


class StopRequest:
    """SIGINT/SIGTERM: raise `KeyboardInterrupt` to cut a start short, and remember it.

    The exception alone can be lost: a signal handled while Python runs an at-fork
    callback (each `Popen` with a `preexec_fn` runs them, as a replica restart does)
    has its exception printed and dropped. The flag still ends the watch loop."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, _signum, _frame) -> None:
        self.requested = True
        raise KeyboardInterrupt
