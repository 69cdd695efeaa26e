"""The stack's Redis: loopback only, nothing persisted (Postgres is the source of truth;
what Redis holds is rebuilt or expires)."""

from __future__ import annotations

from pathlib import Path

from switchboard_cli.stack.accounts import Account, hand_over
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_cli.stack.readiness import answers, wait_until
from switchboard_cli.stack.topology import HOST


def argv(redis_server: str, *, port: int, root: Path) -> list[str]:
    return [
        redis_server,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(root),
        "--daemonize",
        "no",
        "--logfile",
        "",
        "--unixsocket",
        "",
    ]


def start(
    supervisor: Supervisor, *, bins: dict[str, str], root: Path, port: int, account: Account | None
) -> Child:
    root.mkdir(parents=True, exist_ok=True)
    hand_over(root, account)
    return supervisor.spawn(
        "redis", argv(bins["redis-server"], port=port, root=root), account=account, cwd=root
    )


def wait_ready(supervisor: Supervisor, *, port: int) -> None:
    wait_until(answers(port, b"PING\r\n", b"+PONG"), what="Redis", supervisor=supervisor)
