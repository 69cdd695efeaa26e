"""Ready means ready: a service process reports itself unready (`/readyz` 503, gRPC health
NOT_SERVING) while its Postgres or its Redis cannot be reached, and ready again once it
can, with no restart; liveness (`/healthz`) stays 200 all along.

Each test starts its own Postgres and Redis: stopping the suite's shared ones would
disturb the tests of other workers.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.internal import INTERNAL_ENV
from switchboard_testing.pgbouncer import PgBouncer, start_pgbouncer
from switchboard_testing.ports import free_port
from switchboard_testing.postgres import PostgresServer, start_postgres
from switchboard_testing.readiness import eventually
from switchboard_testing.redis_server import RedisServer, start_redis

# Checks every 0.2 s, each given 0.5 s: a change shows within about a second.
FAST_CHECKS = {"SWITCHBOARD_READINESS_INTERVAL_S": "0.2", "SWITCHBOARD_READINESS_TIMEOUT_S": "0.5"}
WITHIN_S = 5.0
REGISTRY = "switchboard.registry.v1.RegistryService"
PROXY = "switchboard.proxy.v1.ProxyService"
GONE = "cannot be reached"


class Probes:
    """What an orchestrator would ask a process: liveness, readiness, gRPC health."""

    def __init__(self, process: GatewayProcess) -> None:
        self.process = process
        self.http = httpx.Client(base_url=process.base_url, timeout=2.0)
        self.grpc = grpc.insecure_channel(f"127.0.0.1:{process.grpc_port}")
        self.health = health_pb2_grpc.HealthStub(self.grpc)

    def close(self) -> None:
        self.http.close()
        self.grpc.close()

    def readyz(self) -> tuple[int, dict]:
        # Liveness is asked with every readiness question: it must hold throughout.
        assert self.http.get("/healthz").status_code == 200, self.process.log()
        answer = self.http.get("/readyz")
        return answer.status_code, answer.json()

    def serving(self, service: str) -> bool:
        reply = self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def wait_ready(self, *services: str) -> None:
        eventually(
            lambda: self.readyz() == (200, {"status": "ready"}), timeout_s=WITHIN_S, what="/readyz 200"
        )
        for service in ("", *services):
            eventually(
                lambda s=service: self.serving(s), timeout_s=WITHIN_S, what=f"{service or 'server'} SERVING"
            )

    def wait_unready(self, missing: str, *services: str) -> None:
        unready = (503, {"status": "not ready", "waiting_for": [missing]})
        eventually(lambda: self.readyz() == unready, timeout_s=WITHIN_S, what=f"/readyz 503 for {missing}")
        for service in ("", *services):
            eventually(
                lambda s=service: not self.serving(s),
                timeout_s=WITHIN_S,
                what=f"{service or 'server'} NOT_SERVING",
            )


@pytest.fixture
def postgres_alone() -> Iterator[PostgresServer]:
    with start_postgres() as server:
        yield server


@pytest.fixture
def pgbouncer_alone(postgres_alone: PostgresServer) -> Iterator[PgBouncer]:
    with start_pgbouncer(postgres_alone) as bouncer:
        yield bouncer


@pytest.fixture
def redis_alone() -> Iterator[RedisServer]:
    with start_redis() as server:
        yield server


def test_a_registry_is_unready_while_its_postgres_is_down_and_ready_again_once_it_is_back(
    postgres_alone: PostgresServer, pgbouncer_alone: PgBouncer, redis_alone: RedisServer
) -> None:
    # As deployed, through PgBouncer: it still accepts connections while Postgres is
    # away, so what turns the registry unready is the check failing or its deadline.
    database_url = pgbouncer_alone.url(postgres_alone.create_database())
    env = {
        "SWITCHBOARD_REGISTRY_DATABASE_URL": database_url,
        "SWITCHBOARD_REDIS_URL": redis_alone.url,
        **INTERNAL_ENV,
        **FAST_CHECKS,
    }
    with start_gateway(env, command=("serve", "registry")) as registry:
        probes = Probes(registry)
        try:
            probes.wait_ready(REGISTRY)

            postgres_alone.stop()
            probes.wait_unready("database", REGISTRY)

            postgres_alone.start_again()
            probes.wait_ready(REGISTRY)
        finally:
            probes.close()
        # Logged when it went and when it came back, not at every failed check.
        assert registry.log().count(GONE) == 1, registry.log()
        assert registry.log().count("can be reached again") == 1, registry.log()
        assert "/readyz answered 503" not in registry.log(), "each probe's 503 logged"
        # The checks end with the process: a clean stop on SIGTERM.
        assert registry.stop(signal.SIGTERM) == 0, registry.log()
        assert "Traceback" not in registry.log(), registry.log()


def test_a_proxy_is_unready_while_its_redis_is_down_and_ready_again_once_it_is_back(
    redis_alone: RedisServer,
) -> None:
    # Its peers are nowhere: the proxy needs none of them to start, nor to be ready.
    nowhere = {
        f"SWITCHBOARD_{peer}_ADDR": f"127.0.0.1:{free_port()}" for peer in ("AUTH", "REGISTRY", "METRICS")
    }
    env = {"SWITCHBOARD_REDIS_URL": redis_alone.url, **nowhere, **INTERNAL_ENV, **FAST_CHECKS}
    with start_gateway(env, command=("serve", "mcp-proxy")) as proxy:
        probes = Probes(proxy)
        try:
            probes.wait_ready(PROXY)

            redis_alone.stop()
            probes.wait_unready("redis", PROXY)

            redis_alone.start_again()
            probes.wait_ready(PROXY)
        finally:
            probes.close()
        assert proxy.log().count(GONE) == 1, proxy.log()
        assert proxy.stop(signal.SIGTERM) == 0, proxy.log()
        assert "Traceback" not in proxy.log(), proxy.log()
