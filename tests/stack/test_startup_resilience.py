"""Start-up resilience: a service started before its Postgres and its Redis exist waits
for them, retrying with backoff and using next to no CPU, and becomes ready once they
answer, with no restart."""

from __future__ import annotations

import os
import time

import httpx
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.internal import INTERNAL_ENV
from switchboard_testing.ports import free_port
from switchboard_testing.postgres import SUPERUSER, start_postgres
from switchboard_testing.readiness import wait_until_http_ok
from switchboard_testing.redis_server import start_redis

WAIT_S = 4.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False


def test_a_service_started_before_postgres_and_redis_is_ready_once_they_are() -> None:
    pg_port, redis_port = free_port(), free_port()
    env = {
        "SWITCHBOARD_REGISTRY_DATABASE_URL": f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{pg_port}/postgres",
        "SWITCHBOARD_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        **INTERNAL_ENV,
        # Short bases so the test does not wait long for the next attempt once they are up.
        "SWITCHBOARD_DB_RETRY_INTERVAL_MS": "250",
        "SWITCHBOARD_REDIS_RETRY_INTERVAL_MS": "250",
    }
    with start_gateway(env, command=("serve", "registry"), ready=False) as registry:
        healthz = f"{registry.base_url}/healthz"
        # Once it says it retries, it has started up (imports done) and only waits.
        give_up = time.monotonic() + 30
        while "retrying" not in registry.log():
            assert time.monotonic() < give_up and registry.process.poll() is None, registry.log()
            time.sleep(0.05)
        before, started = _cpu_seconds(registry.process.pid), time.monotonic()
        deadline = started + WAIT_S
        while time.monotonic() < deadline:
            assert registry.process.poll() is None, registry.log()
            assert not _answers(healthz), "ready without its dependencies"
            time.sleep(0.5)
        waited_cpu = _cpu_seconds(registry.process.pid) - before
        assert waited_cpu < 0.2 * WAIT_S, f"{waited_cpu:.2f}s of CPU in {WAIT_S}s of waiting"

        with start_redis(port=redis_port), start_postgres(port=pg_port) as postgres:
            wait_until_http_ok(healthz, process=registry.process, timeout_s=60)
            with postgres.connect() as db:
                migrated = db.execute("SELECT version_num FROM alembic_version_registry").fetchall()
            assert migrated, "it migrated its database once it could"
