"""nginx for Kubernetes: the one template (`deploy/nginx/switchboard.conf.template`)
rendered for the manifests under `deploy/k8s/`, where the result is committed as the
ConfigMap's file and a test holds it equal to this rendering.

What differs from `switchboard stack up`:

- each service's HTTP upstream is one Kubernetes Service name (`auth-http:8000`, …,
  `mcp-proxy:8000`): a ClusterIP keeps one address while pods come and go, whereas
  nginx resolves upstream names only when it starts;
- the template's internal gRPC fronts are inert (loopback listeners, a `down` server):
  in a cluster the services' clients balance over the headless Services themselves;
- brotli is off: the nginx image has no brotli module (gzip stays);
- logs go to the container's stdout/stderr, everything written lives in `RUN_DIR`
  (an emptyDir: the root filesystem is read-only).

`python -m switchboard_cli.stack.kubernetes_nginx` prints it.
"""

from __future__ import annotations

from pathlib import Path

from switchboard_cli.stack.nginx import TEMPLATE, Limits, render

RUN_DIR = Path("/run/nginx")
LISTEN_PORT = 8080
# The ClusterIP Service nginx reaches each service's HTTP face through.
HTTP_SERVICES = {
    "auth": "auth-http:8000",
    "registry": "registry-http:8000",
    "metrics": "metrics-http:8000",
    "proxy": "mcp-proxy:8000",
}
# Fixed, not `auto`: nginx's `auto` counts the node's cores, not the pod's CPU limit.
WORKER_PROCESSES = 2
_INERT_GRPC_PORTS = {"auth": 50061, "registry": 50062, "metrics": 50063, "proxy": 50064}


def config(*, limits: Limits | None = None, template: Path = TEMPLATE, run_dir: Path = RUN_DIR) -> str:
    values: dict[str, object] = {
        "load_modules": "# brotli: the nginx image has no brotli module (docs/deployment.md)",
        "brotli": "",
        "worker_processes": WORKER_PROCESSES,
        "worker_connections": 4096,
        "run_dir": run_dir,
        "listen": LISTEN_PORT,
        "upstream_header_value": '""',
        **vars(limits or Limits()),
    }
    for key, host in HTTP_SERVICES.items():
        # A failed connection to a ClusterIP says nothing about the pods behind it: never
        # mark the one server down.
        values[f"{key}_http_servers"] = f"        server {host} max_fails=0;"
        values[f"{key}_grpc_servers"] = "        server 127.0.0.1:1 down;"
        values[f"{key}_grpc_listen"] = f"127.0.0.1:{_INERT_GRPC_PORTS[key]}"
    return render(template.read_text(), values)


if __name__ == "__main__":
    print(config(), end="")
