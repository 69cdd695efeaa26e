"""Command line: `switchboard up | serve | migrate | stack | nginx-config | token | secrets | gateways | servers | tools | keys`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from switchboard_cli import nginx_config, upstream_auth
from switchboard_cli.stack.cli import add_parser as add_stack_parser

SERVICES = ("auth", "registry", "mcp-proxy", "metrics")
# The services with a database of their own.
MIGRATED = ("auth", "registry", "metrics")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard MCP gateway. Settings come from SWITCHBOARD_* environment variables (docs/configuration.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run every service in one process (embedded mode: SQLite, no other dependency)")
    serve = sub.add_parser("serve", help="run one service (distributed mode)")
    serve.add_argument("service", choices=SERVICES)
    migrate = sub.add_parser("migrate", help="bring the services' databases to this version's schema")
    migrate.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        type=_migrated_service,
        help="auth, registry, metrics (default: all)",
    )
    migrate.add_argument("--check", action="store_true", help="change nothing; exit 1 unless all are current")
    add_stack_parser(sub)
    nginx_config.add_parser(sub)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="mint a bearer token for a user, straight from the auth store")
    create.add_argument("--email", default=None, help="the user (default: the bootstrap admin)")
    create.add_argument("--name", default="cli", help="a label for the token")
    create.add_argument(
        "--ttl-days",
        "--expires-in-days",
        dest="ttl_days",
        type=int,
        default=None,
        help="lifetime in days (default from settings)",
    )
    create.add_argument(
        "--scope", action="append", dest="scopes", help="a permission the token is limited to; repeat"
    )
    create.add_argument(
        "--server", action="append", dest="servers", help="a virtual server id it may connect to; repeat"
    )
    create.add_argument(
        "--cidr", action="append", dest="cidrs", help="a client network (CIDR) it may be used from; repeat"
    )

    secrets = sub.add_parser("secrets", help="keys sealing upstream credentials").add_subparsers(
        dest="action", required=True
    )
    secrets.add_parser("new-key", help="print a fresh kid:base64key entry for SWITCHBOARD_SECRET_KEYS")
    secrets.add_parser(
        "rotate",
        help="seal every stored upstream credential again with the first key, in the registry database",
    )

    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--url",
        dest="base_url",
        default=None,
        help="gateway base URL (default $SWITCHBOARD_URL or http://127.0.0.1:4444)",
    )
    connection.add_argument("--token", default=None, help="bearer token (default $SWITCHBOARD_TOKEN)")

    def admin(name: str, help_: str):
        return sub.add_parser(name, help=help_).add_subparsers(dest="action", required=True)

    owned = argparse.ArgumentParser(add_help=False)
    owned.add_argument(
        "--team", default=None, dest="team_id", help="owning team id (default: your personal team)"
    )
    owned.add_argument(
        "--visibility",
        choices=["private", "team", "public"],
        default=None,
        help="who sees it: its owner, its team (default) or anyone signed in",
    )

    gateways = admin("gateways", "upstream MCP servers")
    add = gateways.add_parser(
        "add", help="register an upstream MCP server and discover its tools", parents=[connection, owned]
    )
    add.add_argument("name")
    add.add_argument("url")
    upstream_auth.add_options(add)
    auth = gateways.add_parser(
        "auth", help="change the credentials an upstream is reached with", parents=[connection]
    )
    auth.add_argument("id")
    auth.add_argument("--clear", action="store_true", help="reach it without credentials from now on")
    upstream_auth.add_options(auth)
    gateways.add_parser("list", parents=[connection])
    refresh = gateways.add_parser("refresh", help="re-discover an upstream's tools", parents=[connection])
    refresh.add_argument("id")
    remove = gateways.add_parser("remove", parents=[connection])
    remove.add_argument("id")

    servers = admin("servers", "virtual servers")
    screate = servers.add_parser(
        "create", help="compose a virtual server from tools", parents=[connection, owned]
    )
    screate.add_argument("name")
    screate.add_argument(
        "--tool", action="append", required=True, dest="tools", help="tool id or gateway__tool; repeat"
    )
    screate.add_argument("--description", default="")
    screate.add_argument(
        "--bare-names", action="store_true", help="expose upstream names without the gateway prefix"
    )
    servers.add_parser("list", parents=[connection])

    tools = admin("tools", "tools discovered from upstreams")
    tools.add_parser("list", parents=[connection])

    keys = admin("keys", "token signing keys (administrators)")
    keys.add_parser("list", help="every key with its state, never its private half", parents=[connection])
    rotate = keys.add_parser(
        "rotate", help="add a key: published now, signing after the publish delay", parents=[connection]
    )
    rotate.add_argument(
        "--publish-delay",
        type=int,
        default=None,
        metavar="SECONDS",
        help="before it signs (default $SWITCHBOARD_JWT_PUBLISH_DELAY_S of the server)",
    )
    retire = keys.add_parser(
        "retire", help="retire a key now: every token it signed is refused", parents=[connection]
    )
    retire.add_argument("kid")
    return parser


def _migrated_service(value: str) -> str:
    if value not in MIGRATED:
        raise argparse.ArgumentTypeError(f"{value!r} has no database (choose from {', '.join(MIGRATED)})")
    return value


# The commands that write under the data directory: every file they make is owner-only
# (switchboard_core.security.private_files). Not `stack`: the daemons it starts as
# another account (when run as root) must reach the directories it makes.
_WRITES_DATA = frozenset({"up", "serve", "migrate", "token", "secrets"})


def _stop_while_starting(signum: int, _frame: object) -> None:
    # Until the event loop installs its own handler: as a container's PID 1 a signal with
    # no handler is ignored by the kernel, so a SIGTERM during start-up (imports,
    # migrations) was lost and `docker stop` / Kubernetes waited out the grace and killed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():  # (tests call main in threads)
        signal.signal(signal.SIGTERM, _stop_while_starting)
    args = _parser().parse_args(argv)
    if args.command in _WRITES_DATA:
        from switchboard_core.security.private_files import owner_only

        owner_only()
    if args.command == "up":
        from switchboard_cli.serve import run

        return run(["auth", "registry", "metrics", "mcp-proxy"])
    if args.command == "serve":
        from switchboard_cli.serve import run

        return run([args.service])
    if args.command == "stack":
        from switchboard_cli.stack.cli import run as run_stack

        return run_stack(args)
    if args.command == "nginx-config":
        return nginx_config.run(args)
    if args.command == "migrate":
        from switchboard_cli.migrate import run

        return run(args.services or list(MIGRATED), check=args.check)
    if args.command == "token":
        from switchboard_cli.tokens import create

        return create(
            args.email, args.name, args.ttl_days, scopes=args.scopes, servers=args.servers, cidrs=args.cidrs
        )
    if args.command == "secrets":
        from switchboard_cli import secrets

        return secrets.new_key() if args.action == "new-key" else secrets.rotate()

    from switchboard_cli.admin import AdminClient

    client = AdminClient(args.base_url, args.token)
    match (args.command, args.action):
        case ("gateways", "add"):
            body = {"name": args.name, "url": args.url, **_owned(args)}
            if (auth := upstream_auth.auth_from(args)) is not None:
                body["auth"] = auth
            return client.call("POST", "/gateways", body)
        case ("gateways", "auth"):
            auth = upstream_auth.auth_from(args)
            if (auth is None) != args.clear:
                raise SystemExit("error: give credentials options, or --clear")
            return client.call("PATCH", f"/gateways/{args.id}", {"auth": auth})
        case ("gateways", "list"):
            return client.call("GET", "/gateways")
        case ("gateways", "refresh"):
            return client.call("POST", f"/gateways/{args.id}/refresh")
        case ("gateways", "remove"):
            return client.call("DELETE", f"/gateways/{args.id}")
        case ("servers", "create"):
            body = {
                "name": args.name,
                "tools": args.tools,
                "description": args.description,
                "bare_names": args.bare_names,
                **_owned(args),
            }
            return client.call("POST", "/servers", body)
        case ("servers", "list"):
            return client.call("GET", "/servers")
        case ("tools", "list"):
            return client.call("GET", "/tools")
        case ("keys", "list"):
            return client.call("GET", "/auth/keys")
        case ("keys", "rotate"):
            return client.call("POST", "/auth/keys/rotate", {"publish_delay_s": args.publish_delay})
        case ("keys", "retire"):
            return client.call("POST", f"/auth/keys/{args.kid}/retire")
    return 2


def _owned(args: argparse.Namespace) -> dict[str, str]:
    """The team and visibility given on the command line (the registry defaults the rest)."""
    return {key: value for key in ("team_id", "visibility") if (value := getattr(args, key)) is not None}


if __name__ == "__main__":
    sys.exit(main())
