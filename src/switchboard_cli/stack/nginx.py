"""nginx in front of the stack: renders `deploy/nginx/switchboard.conf.template` (the one
template, shared with the tests and any real deployment), checks it with `nginx -t`,
runs nginx in the foreground with everything it writes under its run dir.

Brotli is switched on when its dynamic module is installed (Debian:
libnginx-mod-http-brotli-filter), gzip always.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from switchboard_cli.stack.accounts import Account, hand_over
from switchboard_cli.stack.errors import StackError, StackStartError
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_cli.stack.readiness import http_ok, wait_until
from switchboard_cli.stack.topology import HOST, SERVICES, Topology

TEMPLATE = Path(__file__).resolve().parents[3] / "deploy" / "nginx" / "switchboard.conf.template"
MODULE_DIRS = (Path("/usr/lib/nginx/modules"), Path("/usr/share/nginx/modules"))
BROTLI_MODULE = "ngx_http_brotli_filter_module.so"
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_COMPRESSED_TYPES = "application/json application/problem+json application/javascript text/css text/plain"
_BROTLI = f"""
    brotli on;
    brotli_comp_level 5;
    brotli_min_length 1024;
    brotli_types {_COMPRESSED_TYPES};"""
_TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
# A replica refusing a connection is skipped for a few seconds. Not so between services:
# they start (and their feeds connect) while some peers are still starting, and a peer
# marked down then would fail calls that the next replica, or a moment later, serves;
# a refused connection on loopback costs nothing, and nginx tries the next replica.
_HTTP_SERVER = "max_fails=1 fail_timeout=5s"
_GRPC_SERVER = "max_fails=0"
# The template's name for each service's upstreams.
_UPSTREAM_KEYS = {"auth": "auth", "registry": "registry", "metrics": "metrics", "mcp-proxy": "proxy"}


@dataclass(frozen=True)
class Limits:
    """What clients may do: requests per second per credential and per address (with
    bursts served at once), concurrent requests per address, body size."""

    rate_per_client: int = 100
    burst_per_client: int = 200
    rate_per_address: int = 1000
    burst_per_address: int = 2000
    connections_per_address: int = 1000
    client_max_body_size: str = "4m"
    cache_valid: str = "1s"
    stream_timeout: str = "1h"


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill every `{{ name }}`; a placeholder without a value, or a value without a
    placeholder, is an error (a typo either side would otherwise pass silently)."""
    used: set[str] = set()

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise StackError(f"nginx template: no value for {{{{ {name} }}}}")
        used.add(name)
        return str(values[name])

    text = _PLACEHOLDER.sub(fill, template)
    if unused := set(values) - used:
        raise StackError(f"nginx template: no placeholder for {', '.join(sorted(unused))}")
    return text


def brotli_module(module_dirs: Sequence[Path] = MODULE_DIRS) -> Path | None:
    return next((d / BROTLI_MODULE for d in module_dirs if (d / BROTLI_MODULE).is_file()), None)


def config(
    topology: Topology,
    run_dir: Path,
    *,
    limits: Limits = Limits(),
    show_upstream: bool = False,
    worker_processes: str = "auto",
    module_dirs: Sequence[Path] = MODULE_DIRS,
    template: Path = TEMPLATE,
) -> str:
    if not template.is_file():
        raise StackError(f"no nginx template at {template}: `switchboard stack` runs from a source checkout")
    backends = {
        service: Backends(
            http=[f"{HOST}:{r.http_port}" for r in topology.replicas[service]],
            grpc=[f"{HOST}:{r.grpc_port}" for r in topology.replicas[service]],
            grpc_listen=topology.grpc_addr(service),
        )
        for service in SERVICES
    }
    values = template_values(
        listen=f"{HOST}:{topology.public_port}",
        run_dir=run_dir,
        backends=backends,
        brotli=brotli_module(module_dirs),
        limits=limits,
        show_upstream=show_upstream,
        worker_processes=worker_processes,
    )
    return render(template.read_text(), values)


@dataclass(frozen=True)
class Backends:
    """One service as nginx sees it: its replicas' HTTP and gRPC addresses (`host:port`;
    a host name stands for every address it resolves to when nginx starts), and where
    nginx fronts its gRPC face."""

    http: Sequence[str]
    grpc: Sequence[str]
    grpc_listen: str


def template_values(
    *,
    listen: str,
    run_dir: Path | str,
    backends: Mapping[str, Backends],
    brotli: Path | str | None,
    limits: Limits = Limits(),
    show_upstream: bool = False,
    worker_processes: str = "auto",
) -> dict[str, object]:
    """Every placeholder of the template, for any deployment: `stack up` (loopback ports)
    and `switchboard nginx-config` (Compose, Kubernetes: service names) alike."""
    values: dict[str, object] = {
        "load_modules": f"load_module {brotli};" if brotli else "# brotli: module not installed",
        "brotli": _BROTLI if brotli else "",
        "worker_processes": worker_processes,
        "worker_connections": 4096,
        "run_dir": run_dir,
        "listen": listen,
        "upstream_header_value": "$upstream_addr" if show_upstream else '""',
        **{k: v for k, v in vars(limits).items()},
    }
    for service, key in _UPSTREAM_KEYS.items():
        values[f"{key}_http_servers"] = _servers(backends[service].http, _HTTP_SERVER)
        values[f"{key}_grpc_servers"] = _servers(backends[service].grpc, _GRPC_SERVER)
        values[f"{key}_grpc_listen"] = backends[service].grpc_listen
    return values


def write(run_dir: Path, text: str, account: Account | None) -> Path:
    """The config at `<run_dir>/nginx.conf`, with the directories it names."""
    for sub in ("logs", "cache", *(f"tmp/{d}" for d in _TEMP_DIRS)):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)  # the cache holds Authorization headers in its keys
    path = run_dir / "nginx.conf"
    path.write_text(text)
    hand_over(run_dir, account)
    return path


def check(nginx: str, conf: Path, *, account: Account | None = None) -> None:
    """`nginx -t`: raise `StackStartError` with nginx's complaint if the config is bad."""
    result = subprocess.run(
        _argv(nginx, conf) + ["-t", "-q"],
        capture_output=True,
        text=True,
        check=False,
        **(account.popen_kwargs() if account else {}),
    )
    if result.returncode != 0:
        raise StackStartError(f"nginx -t rejected {conf}:\n{result.stderr}{result.stdout}")


def start(supervisor: Supervisor, *, nginx: str, conf: Path, account: Account | None) -> Child:
    # SIGQUIT would wait for open streams to end; SIGTERM closes them.
    return supervisor.spawn("nginx", _argv(nginx, conf), account=account, stop_signal=signal.SIGTERM)


def wait_ready(supervisor: Supervisor, *, port: int) -> None:
    wait_until(http_ok(f"http://{HOST}:{port}/nginx-health"), what="nginx", supervisor=supervisor)


def _argv(nginx: str, conf: Path) -> list[str]:
    # -e: where errors found before the config's own error_log is read go (not the
    # compiled-in /var/log/nginx, which an unprivileged nginx may not open).
    return [nginx, "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"]


def _servers(addresses: Sequence[str], parameters: str) -> str:
    return "\n".join(f"        server {address} {parameters};" for address in addresses)
