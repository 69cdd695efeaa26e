"""Compose for one host: deploy/compose/compose.yaml, brought up by Debian's docker-compose
(1.29) with the test's stand-ins for the public images, serves a real MCP client (the
official SDK) through nginx, two mcp-proxy replicas and an upstream container; with the
replica that served the session stopped, the session goes on through the other; and
`down -v` leaves nothing of the project behind."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from switchboard_testing import docker_images
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.compose_project import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ComposeImages,
    ComposeProject,
    compose_up,
    ensure_compose_images,
)
from switchboard_testing.readiness import eventually

# Cold: a debootstrap base and three image builds. Warm (tags cached): the compose up.
pytestmark = pytest.mark.timeout(1200)


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


def test_an_sdk_session_goes_on_through_the_other_proxy_and_down_leaves_nothing(
    images: ComposeImages,
) -> None:
    with compose_up(images) as project:
        eventually(lambda: _nginx_answers(project), timeout_s=60, what="nginx of the compose project")
        token = _login(project)
        with httpx.Client(
            base_url=project.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as admin:
            register(admin, "fixture", "http://upstream:9100/mcp")
            server_id = create_server(admin, "compose", ["fixture__echo", "fixture__add"], bare_names=True)
        anyio.run(_session_across_a_stopped_proxy, project, token, server_id)
    assert _leftovers(project) == {"containers": [], "volumes": [], "networks": []}
