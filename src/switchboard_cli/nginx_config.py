"""`switchboard nginx-config`: the nginx config of a deployment whose services are found
by name (Docker Compose, Kubernetes), rendered from the same template as `stack up`'s.

Each service is its network name (`auth`, `registry`, `metrics`, `mcp-proxy`) with every
replica behind it; nginx resolves a name when it starts, to all its addresses. Brotli is
off unless a module path is given: the public nginx image has none, Debian's
libnginx-mod-http-brotli-filter has one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from switchboard_cli.stack.errors import StackError
from switchboard_cli.stack.nginx import TEMPLATE, Backends, Limits, render, template_values
from switchboard_cli.stack.topology import SERVICES

DEFAULT_LISTEN = "0.0.0.0:8080"
DEFAULT_RUN_DIR = "/run/switchboard-nginx"
# Internal gRPC goes from client to replica (dns:/// with round_robin), not through nginx;
# its gRPC fronts stay on the container's loopback unless asked for.
DEFAULT_GRPC_FRONTS = "127.0.0.1:50052"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "nginx-config",
        help="render deploy/nginx's template for services found by name (Compose, Kubernetes)",
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="default: the checkout's template")
    parser.add_argument("--output", default="-", help="the file to write (default: standard output)")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help=f"public address (default {DEFAULT_LISTEN})")
    parser.add_argument(
        "--run-dir", default=DEFAULT_RUN_DIR, help=f"where nginx writes (default {DEFAULT_RUN_DIR})"
    )
    parser.add_argument("--http-port", type=int, default=8000, help="the services' HTTP port (default 8000)")
    parser.add_argument(
        "--grpc-port", type=int, default=50051, help="the services' gRPC port (default 50051)"
    )
    parser.add_argument(
        "--grpc-fronts",
        default=DEFAULT_GRPC_FRONTS,
        metavar="HOST:PORT",
        help="where nginx fronts auth's gRPC; registry, metrics, mcp-proxy on the next ports "
        f"(default {DEFAULT_GRPC_FRONTS})",
    )
    parser.add_argument(
        "--brotli-module",
        default="",
        metavar="PATH",
        help="nginx's brotli filter module (default: no brotli)",
    )
    parser.add_argument(
        "--show-upstream",
        action="store_true",
        help="answer with X-Upstream naming the replica (tests only: it shows internal addresses)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        text = config(
            template=args.template,
            listen=args.listen,
            run_dir=args.run_dir,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            grpc_fronts=args.grpc_fronts,
            brotli_module=args.brotli_module or None,
            show_upstream=args.show_upstream,
        )
    except (StackError, OSError, ValueError) as exc:
        print(f"switchboard nginx-config: {exc}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def config(
    *,
    template: Path = TEMPLATE,
    listen: str = DEFAULT_LISTEN,
    run_dir: str = DEFAULT_RUN_DIR,
    http_port: int = 8000,
    grpc_port: int = 50051,
    grpc_fronts: str = DEFAULT_GRPC_FRONTS,
    brotli_module: str | None = None,
    show_upstream: bool = False,
) -> str:
    front_host, _, first = grpc_fronts.rpartition(":")
    if not front_host or not first.isdigit():
        raise ValueError(f"--grpc-fronts: {grpc_fronts!r} is not HOST:PORT")
    backends = {
        service: Backends(
            http=[f"{service}:{http_port}"],
            grpc=[f"{service}:{grpc_port}"],
            grpc_listen=f"{front_host}:{int(first) + index}",
        )
        for index, service in enumerate(SERVICES)
    }
    values = template_values(
        listen=listen,
        run_dir=run_dir,
        backends=backends,
        brotli=brotli_module,
        limits=Limits(),
        show_upstream=show_upstream,
    )
    return render(template.read_text(), values)
