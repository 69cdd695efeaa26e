"""PgBouncer in front of the stack's Postgres, in transaction pooling mode.

Clients authenticate with SCRAM against `userlist.txt`; PgBouncer logs in to Postgres
as the same role (it holds the password in plain text for that). In transaction mode a
server connection serves one transaction at a time, so clients must not rely on
session state, server-side prepared statements included (PgBouncer 1.18 does not track
them).

The same role is a `stats_users` member: the Prometheus PgBouncer exporter reads the
console's `SHOW STATS`/`SHOW POOLS` (read-only) with it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg

from switchboard_cli.stack.accounts import Account, hand_over
from switchboard_cli.stack.credentials import Credentials
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_cli.stack.readiness import wait_until
from switchboard_cli.stack.topology import HOST

CONFIG = """\
[databases]
* = host={host} port={postgres_port}

[pgbouncer]
listen_addr = {host}
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {root}/userlist.txt
stats_users = {user}
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
reserve_pool_size = 5
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile =
pidfile =
"""


def start(
    supervisor: Supervisor,
    *,
    bins: dict[str, str],
    root: Path,
    port: int,
    postgres_port: int,
    credentials: Credentials,
    account: Account | None,
) -> Child:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "pgbouncer.ini"
    config.write_text(
        CONFIG.format(
            host=HOST, port=port, postgres_port=postgres_port, root=root, user=credentials.database_user
        )
    )
    users = root / "userlist.txt"
    users.write_text(f'"{credentials.database_user}" "{credentials.database_password}"\n')
    users.chmod(0o600)
    hand_over(root, account)
    # SIGINT: "safe shutdown" (waits for transactions in flight); SIGTERM drops them.
    return supervisor.spawn(
        "pgbouncer",
        [bins["pgbouncer"], str(config)],
        account=account,
        stop_signal=signal.SIGINT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
    )


def wait_ready(supervisor: Supervisor, *, port: int, database: str, credentials: Credentials) -> None:
    def answers() -> bool:
        try:
            with psycopg.connect(
                host=HOST,
                port=port,
                user=credentials.database_user,
                password=credentials.database_password,
                dbname=database,
                connect_timeout=2,
                prepare_threshold=None,
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    wait_until(answers, what="PgBouncer", supervisor=supervisor)
