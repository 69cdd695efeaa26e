"""Internal gRPC is balanced by its clients, with no proxy in between: two replicas of
the registry and two of auth, each pair on one port of `localhost` (127.0.0.1 and ::1),
are both called by a client of the project's `Channels` given `localhost:<port>`, and
the replicas started later get calls within the servers' (short, here) maximum
connection age, with no call failing meanwhile (docs/internal-grpc.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.grpc import Channels
from switchboard_core.grpc.channels import Balancing
from switchboard_testing.balancing import LOCALHOST_ADDRESSES, served_calls, start_replica
from switchboard_testing.gateway_process import ADMIN_EMAIL, ADMIN_PASSWORD, GatewayProcess
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import eventually_async, wait_until_http_ok

AGE_S = 1.0
# A reconnect's backoff is capped at the age, ±20 % jitter; then the connection, on a
# machine whose two cores run other suites too.
WITHIN_S = AGE_S * 1.2 + 2.0
SERVICES = ("registry", "auth")
CALLS = 40
CALLED = {
    "registry": "/switchboard.registry.v1.RegistryService/GetCatalog",
    "auth": "/switchboard.auth.v1.AuthService/Authenticate",
}


@dataclass
class Deployment:
    data_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    # Per service, its replicas in the order they started.
    replicas: dict[str, list[GatewayProcess]]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The first replica of each service, on 127.0.0.1, finding the others at `localhost`."""
    ports = {service: free_port() for service in SERVICES}
    env = {
        "SWITCHBOARD_GRPC_MAX_CONNECTION_AGE_S": str(AGE_S),
        # Nothing is in flight at the end: the replicas need not wait to stop.
        "SWITCHBOARD_SHUTDOWN_GRACE_S": "1",
        "SWITCHBOARD_AUTH_ADDR": f"localhost:{ports['auth']}",
        "SWITCHBOARD_REGISTRY_ADDR": f"localhost:{ports['registry']}",
    }
    deployment = Deployment(tmp_path_factory.mktemp("balanced"), ports, env, {s: [] for s in SERVICES})
    with contextlib.ExitStack() as stack:
        _start(stack, deployment, LOCALHOST_ADDRESSES[0])
        yield deployment


def _start(stack: contextlib.ExitStack, deployment: Deployment, host: str) -> None:
    """One more replica of each service on `host`, started together and waited on."""
    started = [
        stack.enter_context(
            start_replica(
                service,
                grpc_host=host,
                grpc_port=deployment.ports[service],
                data_dir=deployment.data_dir,
                env=deployment.env,
                ready=False,
            )
        )
        for service in SERVICES
    ]
    for service, replica in zip(SERVICES, started, strict=True):
        wait_until_http_ok(f"{replica.base_url}/healthz", process=replica.process)
        deployment.replicas[service].append(replica)


async def test_replicas_started_later_on_localhost_get_calls_within_the_connection_age(
    deployment: Deployment,
) -> None:
    async with httpx.AsyncClient(base_url=deployment.replicas["auth"][0].base_url, timeout=10) as http:
        signed_in = await http.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    token = signed_in.json()["access_token"]
    channels = Channels(INTERNAL_TOKEN, balancing=Balancing(connection_age_s=AGE_S))
    registry = registry_pb2_grpc.RegistryServiceStub(
        channels.get(deployment.env["SWITCHBOARD_REGISTRY_ADDR"])
    )
    auth = auth_pb2_grpc.AuthServiceStub(channels.get(deployment.env["SWITCHBOARD_AUTH_ADDR"]))

    async def call_both() -> None:
        await registry.GetCatalog(registry_pb2.GetCatalogRequest(), timeout=5)
        await auth.Authenticate(auth_pb2.AuthenticateRequest(token=token), timeout=5)

    async def served(index: int) -> dict[str, int]:
        return {
            service: await asyncio.to_thread(served_calls, replicas[index].base_url, CALLED[service])
            for service, replicas in deployment.replicas.items()
        }

    try:
        for _ in range(5):
            await call_both()  # connected to the first replicas, the ::1 addresses refused
        with contextlib.ExitStack() as later:
            _start(later, deployment, LOCALHOST_ADDRESSES[1])
            ready = time.monotonic()

            async def later_replicas_called() -> bool:
                await call_both()  # every call must succeed while the replicas join
                return min((await served(1)).values()) > 0

            await eventually_async(
                later_replicas_called, within_s=WITHIN_S, what="calls reaching the ::1 replicas"
            )
            joined_after = time.monotonic() - ready

            before = [await served(0), await served(1)]
            for _ in range(CALLS):
                await call_both()
            after = [await served(0), await served(1)]
    finally:
        await channels.close()
    assert joined_after < WITHIN_S
    for index, replica_set in enumerate(("127.0.0.1", "::1")):
        for service in SERVICES:
            got = after[index][service] - before[index][service]
            # Round robin: about half each (less while a connection that aged out is
            # replaced); a fifth is still far from a channel stuck on one replica.
            assert got >= CALLS // 5, f"{service} on {replica_set} served {got} of {CALLS} calls"
