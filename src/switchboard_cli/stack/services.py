"""The Switchboard services' replicas: `switchboard serve NAME`, each on its own ports,
finding the other services through nginx's gRPC fronts, sharing Postgres (through
PgBouncer) and Redis."""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from switchboard_cli.stack import postgres
from switchboard_cli.stack.credentials import Credentials
from switchboard_cli.stack.processes import Child, Supervisor
from switchboard_cli.stack.readiness import http_ok, wait_until
from switchboard_cli.stack.topology import HOST, WITH_DATABASE, Replica, Topology


def shared_env(
    topology: Topology, credentials: Credentials, *, stack_dir: Path, sqlite: bool
) -> dict[str, str]:
    """What every replica, and the CLI pointed at the stack, is configured with."""
    env = {
        "SWITCHBOARD_URL": topology.public_url,
        "SWITCHBOARD_DATA_DIR": str((stack_dir / "data").resolve()),
        "SWITCHBOARD_AUTH_ADDR": topology.grpc_addr("auth"),
        "SWITCHBOARD_REGISTRY_ADDR": topology.grpc_addr("registry"),
        "SWITCHBOARD_METRICS_ADDR": topology.grpc_addr("metrics"),
        "SWITCHBOARD_REDIS_URL": topology.redis_url,
        "SWITCHBOARD_INTERNAL_TOKEN": credentials.internal_token,
        "SWITCHBOARD_SECRET_KEYS": credentials.secret_keys,
        "SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL": credentials.admin_email,
        "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": credentials.admin_password,
        # nginx runs on this host: its X-Forwarded-* name the client and the public URL.
        "SWITCHBOARD_TRUSTED_PROXIES": f'["{HOST}"]',
    }
    if not sqlite:
        assert topology.pgbouncer_port is not None
        for service in WITH_DATABASE:
            env[f"SWITCHBOARD_{service.upper()}_DATABASE_URL"] = postgres.url(
                topology.pgbouncer_port,
                credentials.database_user,
                credentials.database_password,
                postgres.database_name(service),
            )
    return env


def start(supervisor: Supervisor, replica: Replica, *, base_env: Mapping[str, str]) -> Child:
    env = {
        **base_env,
        "SWITCHBOARD_HTTP_HOST": HOST,
        "SWITCHBOARD_HTTP_PORT": str(replica.http_port),
        "SWITCHBOARD_GRPC_HOST": HOST,
        "SWITCHBOARD_GRPC_PORT": str(replica.grpc_port),
        "OTEL_RESOURCE_ATTRIBUTES": _with_instance(
            base_env.get("OTEL_RESOURCE_ATTRIBUTES", ""), replica.name
        ),
        "PYTHONUNBUFFERED": "1",
        # JSON lines naming the replica: what a log collector reads (the operator may ask for text).
        "SWITCHBOARD_LOG_FORMAT": base_env.get("SWITCHBOARD_LOG_FORMAT", "json"),
        "SWITCHBOARD_REPLICA": replica.name,
    }
    argv = [sys.executable, "-m", "switchboard_cli.main", "serve", replica.service]
    # SIGTERM: the host stops taking requests, drains, flushes metrics, then exits.
    return supervisor.spawn(
        replica.name, argv, group=replica.service, env=env, stop_signal=signal.SIGTERM, restartable=True
    )


def wait_ready(supervisor: Supervisor, replica: Replica) -> None:
    wait_until(http_ok(f"{replica.http_url}/healthz"), what=replica.name, supervisor=supervisor)


def _with_instance(attributes: str, name: str) -> str:
    # Traces name the replica that served them.
    return ",".join(a for a in (attributes, f"service.instance.id={name}") if a)
