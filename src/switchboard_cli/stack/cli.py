"""The `switchboard stack` command line (kept free of heavy imports: `main` builds every
parser on each run)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DIR = Path(".switchboard/stack")
DEFAULT_PORT = 4444


def add_parser(sub) -> None:
    stack = sub.add_parser(
        "stack",
        help="distributed mode on this machine: Postgres, PgBouncer, Redis, service replicas, nginx",
    ).add_subparsers(dest="action", required=True)
    up = stack.add_parser(
        "up",
        help="start the whole stack as processes on loopback; Ctrl-C stops it",
        description="Needs postgresql, pgbouncer, redis-server and nginx installed "
        "(apt-get install postgresql pgbouncer redis-server nginx).",
    )
    up.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"where it all lives (default {DEFAULT_DIR})"
    )
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"nginx's public port (default {DEFAULT_PORT}; 0: any free port)",
    )
    up.add_argument(
        "--replicas", type=_positive, default=1, metavar="N", help="replicas of every service (default 1)"
    )
    for service in ("auth", "registry", "metrics", "proxy"):
        up.add_argument(
            f"--{service}-replicas",
            type=_positive,
            default=None,
            metavar="N",
            help=f"replicas of {service.replace('proxy', 'mcp-proxy')}",
        )
    up.add_argument(
        "--sqlite",
        action="store_true",
        help="services use SQLite files in the stack dir (Postgres and PgBouncer are not started)",
    )
    up.add_argument("--rate-limit", type=int, default=100, help="requests/s per credential (default 100)")
    up.add_argument(
        "--rate-burst", type=int, default=200, help="requests over the rate served at once (default 200)"
    )
    up.add_argument("--max-body", default="4m", help="largest request body nginx accepts (default 4m)")
    up.add_argument(
        "--show-upstream",
        action="store_true",
        help="answer with an X-Upstream header naming the replica that served (debugging)",
    )
    up.add_argument(
        "--restart-replicas",
        action="store_true",
        help="restart a service replica that exits (up to 5 times) instead of stopping the stack",
    )


def run(args: argparse.Namespace) -> int:
    from switchboard_cli.stack.nginx import Limits
    from switchboard_cli.stack.up import Options, run

    def replicas(own: int | None) -> int:
        return own if own is not None else args.replicas

    options = Options(
        stack_dir=args.dir.resolve(),
        public_port=args.port,
        replicas={
            "auth": replicas(args.auth_replicas),
            "registry": replicas(args.registry_replicas),
            "metrics": replicas(args.metrics_replicas),
            "mcp-proxy": replicas(args.proxy_replicas),
        },
        sqlite=args.sqlite,
        limits=Limits(
            rate_per_client=args.rate_limit,
            burst_per_client=args.rate_burst,
            client_max_body_size=args.max_body,
        ),
        show_upstream=args.show_upstream,
        restart_replicas=args.restart_replicas,
    )
    return run(options)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
