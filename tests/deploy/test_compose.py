"""Compose for one host: deploy/compose/compose.yaml, brought up once for the module by
Debian's docker-compose (1.29) with the test's stand-ins for the public images, serves a
real MCP client (the official SDK) through nginx, two mcp-proxy replicas and an upstream
container; with the replica that served the session stopped, the session goes on
through the other. Internal gRPC goes straight to the replicas, no nginx between: a
client of the project's own `Channels` in an mcp-proxy container spreads its calls over
both replicas of auth and of registry, and a registry replica added later gets calls
within the servers' connection age (3 s in compose.test.yaml). `down -v` leaves nothing
of the project behind (checked when the module's project is taken down)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from switchboard_testing import docker_images
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.compose_balancing import InternalCaller, served_calls_in
from switchboard_testing.compose_project import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    UP_TIMEOUT_S,
    ComposeImages,
    ComposeProject,
    compose_up,
    ensure_compose_images,
)
from switchboard_testing.readiness import eventually

# Cold: a debootstrap base and three image builds. Warm (tags cached): the compose up.
pytestmark = pytest.mark.timeout(1200)

# SWITCHBOARD_GRPC_MAX_CONNECTION_AGE_S of compose.test.yaml.
AGE_S = 3.0
CALLS = 60
CALLED = {
    "registry": "/switchboard.registry.v1.RegistryService/GetCatalog",
    "auth": "/switchboard.auth.v1.AuthService/Authenticate",
}


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange of the SDK's session, as nginx answered it."""

    method: str
    sent_session: str | None
    answered_session: str | None
    # nginx's $upstream_addr: every replica tried, the one that answered last.
    upstreams: tuple[str, ...]
    status: int

    @property
    def served_by(self) -> str | None:
        return self.upstreams[-1].rsplit(":", 1)[0] if self.upstreams else None


@pytest.fixture(scope="module")
def images() -> ComposeImages:
    if problem := docker_images.docker_problem():
        pytest.fail(problem)
    return ensure_compose_images()


@pytest.fixture(scope="module")
def project(images: ComposeImages) -> Iterator[ComposeProject]:
    """The one project of the module (CI brings up no second stack); its tests leave it
    usable by the others, whatever their order."""
    with compose_up(images) as project:
        eventually(lambda: _nginx_answers(project), timeout_s=60, what="nginx of the compose project")
        yield project
    assert _leftovers(project) == {"containers": [], "volumes": [], "networks": []}


@pytest.fixture(scope="module")
def token(project: ComposeProject) -> str:
    return _login(project)


@pytest.fixture
def caller(project: ComposeProject, token: str) -> Iterator[InternalCaller]:
    """A client of the services' own making in a running mcp-proxy container (on the
    project's network, with its environment: `dns:///registry:50051`…)."""
    caller = InternalCaller(_running(project, "mcp-proxy")[0], token)
    try:
        yield caller
    finally:
        caller.close()


def _running(project: ComposeProject, service: str) -> list[str]:
    done = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc"]
        + ["--filter", f"label=com.docker.compose.project={project.name}"]
        + ["--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return sorted(done.stdout.split())


def _healthy(container: str) -> bool:
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip() == "healthy"


def _served(containers: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    return {service: served_calls_in(replicas, CALLED[service]) for service, replicas in containers.items()}


def _spread(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        service: {
            replica: after[service][replica] - before[service].get(replica, 0) for replica in after[service]
        }
        for service in after
    }


def _assert_every_replica_served_its_share(spread: dict[str, dict[str, int]]) -> None:
    for service, by_replica in spread.items():
        # Every call counted once, and by these replicas only: nothing else calls these
        # methods meanwhile (the proxies fetch a catalog or a principal on a cache miss
        # of a client's request, and no client is talking to them).
        assert sum(by_replica.values()) == CALLS, (service, by_replica)
        # Round robin: about a fair share each, less while an aged-out connection is
        # replaced; half a share is still far from a channel stuck on one replica.
        for replica, served in by_replica.items():
            assert served >= CALLS // (2 * len(by_replica)), (service, replica[:12], by_replica)


def _nginx_answers(project: ComposeProject) -> bool:
    try:
        return httpx.get(f"{project.url}/nginx-health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _login(project: ComposeProject) -> str:
    response = httpx.post(
        f"{project.url}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _address(container: str) -> str:
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def _leftovers(project: ComposeProject) -> dict[str, list[str]]:
    label = f"label=com.docker.compose.project={project.name}"
    found = {}
    for kind, listing in (
        ("containers", ["docker", "ps", "-aq"]),
        ("volumes", ["docker", "volume", "ls", "-q"]),
        ("networks", ["docker", "network", "ls", "-q"]),
    ):
        done = subprocess.run([*listing, "--filter", label], capture_output=True, text=True, check=True)
        found[kind] = done.stdout.split()
    return found


def _last_answered_post(exchanges: list[Exchange]) -> Exchange:
    return [e for e in exchanges if e.method == "POST" and e.status == 200][-1]


async def _session_across_a_stopped_proxy(project: ComposeProject, token: str, server_id: str) -> None:
    proxies = {_address(container): container for container in project.containers("mcp-proxy")}
    assert len(proxies) == 2, proxies
    exchanges: list[Exchange] = []

    async def record(response: httpx2.Response) -> None:
        exchanges.append(
            Exchange(
                method=response.request.method,
                sent_session=response.request.headers.get("mcp-session-id"),
                answered_session=response.headers.get("mcp-session-id"),
                upstreams=tuple(
                    a for a in response.headers.get("x-upstream", "").replace(" ", "").split(",") if a
                ),
                status=response.status_code,
            )
        )

    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
        event_hooks={"response": [record]},
    ) as http:
        transport = streamable_http_client(f"{project.url}/servers/{server_id}/mcp", http_client=http)
        async with Client(transport, mode="legacy") as client:
            initialize = exchanges[0]
            assert initialize.method == "POST" and initialize.sent_session is None, initialize
            session_id = initialize.answered_session
            assert session_id, exchanges
            tools = await client.list_tools()
            assert sorted(t.name for t in tools.tools) == ["add", "echo"]
            before = await client.call_tool("echo", {"text": "before"})
            assert before.content[0].text == "before"

            stopped = _last_answered_post(exchanges).served_by
            assert stopped in proxies, (exchanges, proxies)
            await anyio.to_thread.run_sync(
                lambda: subprocess.run(["docker", "stop", proxies[stopped]], check=True, timeout=60)
            )

            after = await client.call_tool("echo", {"text": "after"})
            assert after.content[0].text == "after"
            # The SDK may also reopen its GET stream meanwhile: the call is the last answered POST.
            call = _last_answered_post(exchanges)
            assert call.sent_session == session_id, call
            (remaining,) = set(proxies) - {stopped}
            assert call.served_by == remaining, call


def test_an_sdk_session_goes_on_through_the_other_proxy(project: ComposeProject, token: str) -> None:
    with httpx.Client(
        base_url=project.url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as admin:
        register(admin, "fixture", "http://upstream:9100/mcp")
        server_id = create_server(admin, "compose", ["fixture__echo", "fixture__add"], bare_names=True)
    anyio.run(_session_across_a_stopped_proxy, project, token, server_id)


def test_every_replica_of_auth_and_registry_serves_internal_calls_with_no_nginx_between(
    project: ComposeProject, caller: InternalCaller
) -> None:
    replicas = {service: _running(project, service) for service in CALLED}
    assert all(len(found) >= 2 for found in replicas.values()), replicas
    before = _served(replicas)
    assert caller.call(CALLS) == {"registry": CALLS, "auth": CALLS}
    _assert_every_replica_served_its_share(_spread(before, _served(replicas)))


def test_a_registry_replica_added_later_gets_calls_within_the_connection_age(
    project: ComposeProject, caller: InternalCaller
) -> None:
    first = _running(project, "registry")
    caller.call(5)  # resolved and connected: only the first replicas exist for this client
    # One look: a few calls, then every replica's counter read from inside its container.
    started = time.monotonic()
    caller.call(6)
    served_calls_in(first, CALLED["registry"])
    look_s = time.monotonic() - started

    project.compose(
        "up",
        "-d",
        "--no-deps",
        "--no-recreate",
        "--scale",
        f"registry={len(first) + 1}",
        "registry",
        timeout_s=UP_TIMEOUT_S,
    )
    (added,) = set(_running(project, "registry")) - set(first)
    eventually(lambda: _healthy(added), timeout_s=180, what="the added registry replica healthy")
    ready = time.monotonic()

    # Once it is in DNS, the client has it within 1.2 x the age: either the next of its
    # connections to go away (at 1.1 x the age at most, gRPC's jitter) makes it resolve
    # (the pause between resolutions is the age), or it resolved the name before the
    # replica listened and retries after a backoff capped at the age (+20 % jitter).
    # Then up to two looks (one under way as it joins, the next to see it) and a second
    # for the new connection on a loaded machine.
    within_s = 1.2 * AGE_S + 2 * look_s + 1.0

    def added_called() -> bool:
        caller.call(6)
        return served_calls_in([added], CALLED["registry"])[added] > 0

    eventually(
        added_called, timeout_s=within_s, what=f"calls reaching the added replica within {within_s:.1f}s"
    )
    joined_after = time.monotonic() - ready

    replicas = {"registry": [*first, added]}
    before = _served(replicas)
    assert caller.call(CALLS)["registry"] == CALLS
    after = _served(replicas)
    _assert_every_replica_served_its_share(_spread(before, after))
    print(f"added registry replica called {joined_after:.1f}s after it was healthy (bound {within_s:.1f}s)")
