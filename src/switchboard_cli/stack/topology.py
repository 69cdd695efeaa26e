"""Where everything of a stack listens: picked once at start, written to `stack.json`.

All on loopback. Ports are chosen by the kernel (bind to port 0) except the public one;
a port is only free when looked at, so every process is waited on rather than trusted
to have bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from switchboard_core.ports import free_port

HOST = "127.0.0.1"
SERVICES = ("auth", "registry", "metrics", "mcp-proxy")
# The services with a database of their own (SWITCHBOARD_<NAME>_DATABASE_URL).
WITH_DATABASE = ("auth", "registry", "metrics")


@dataclass(frozen=True)
class Replica:
    service: str
    index: int
    http_port: int
    grpc_port: int

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"


@dataclass
class Topology:
    public_port: int
    # Where nginx balances each service's gRPC face over its replicas.
    grpc_front_ports: dict[str, int]
    replicas: dict[str, list[Replica]]
    redis_port: int
    # None when the services use SQLite files instead (`--sqlite`).
    postgres_port: int | None = None
    pgbouncer_port: int | None = None

    @property
    def public_url(self) -> str:
        return f"http://{HOST}:{self.public_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    def grpc_addr(self, service: str) -> str:
        return f"{HOST}:{self.grpc_front_ports[service]}"

    def all_replicas(self) -> list[Replica]:
        return [r for service in SERVICES for r in self.replicas[service]]

    def to_dict(self) -> dict:
        return asdict(self)


def plan(replicas: dict[str, int], *, public_port: int, with_postgres: bool) -> Topology:
    """Ports for everything (`public_port` 0: any free one)."""
    return Topology(
        public_port=public_port or free_port(),
        grpc_front_ports={service: free_port() for service in SERVICES},
        replicas={
            service: [Replica(service, i, free_port(), free_port()) for i in range(1, replicas[service] + 1)]
            for service in SERVICES
        },
        redis_port=free_port(),
        postgres_port=free_port() if with_postgres else None,
        pgbouncer_port=free_port() if with_postgres else None,
    )
