"""The image of deploy/docker/Dockerfile, built on a debootstrap Debian base and run for
real: embedded `switchboard up` on a read-only root, its health check, a tools/call
through it to an upstream on the host, and one role (`serve registry`) on its own.

Every test needing the image is in this one file: with `--dist loadfile` one worker
waits for a cold build while the other runs other files."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.docker_containers import Container, bridge_gateway, run_container
from switchboard_testing.docker_images import LABEL, REPO_ROOT, Images, context_files
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually, wait_until_http_ok
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

# Cold, the session's image build (debootstrap, then `docker build`) runs inside the
# first test's setup.
pytestmark = pytest.mark.timeout(900)

UID = 10001
DATA_DIR = "/var/lib/switchboard"
ADMIN_EMAIL = "admin@example.com"
# As a restricted Kubernetes securityContext runs it: read-only root, the data directory
# the only writable path, every capability dropped, no privilege escalation.
RESTRICTED = (
    "--read-only",
    f"--tmpfs={DATA_DIR}:uid={UID},gid={UID},mode=0700",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
)
# The image's own interval is 10 s; a second here, so the test waits on the check, not the clock.
FAST_HEALTHCHECK = ("--health-interval=1s", "--health-start-period=60s")
# The image adds its virtual environment to the base: about 150 MB now. A jump past this
# bound means something (a compiler, a cache, the tests) got into the runtime stage.
MAX_ADDED_BYTES = 250 * 1024 * 1024
# A gateway starts in seconds, but on a machine shared by busy test runs it took 57 s.
STARTUP_S = 180


@pytest.fixture(scope="module")
def host_upstream() -> Iterator[UpstreamProcess]:
    """A fixture upstream on the host, listening where containers on the bridge reach it."""
    with start_upstream(name="hosted", host=bridge_gateway()) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(switchboard_images: Images, host_upstream: UpstreamProcess) -> Iterator[Container]:
    env = {
        "SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": "correct-horse-battery-staple",
        # The upstream is on a private address (the bridge's), refused unless allowed.
        "SWITCHBOARD_OUTBOUND_ALLOW": host_upstream.host,
    }
    with run_container(
        switchboard_images.app, env=env, publish=[8000, 50051], options=[*RESTRICTED, *FAST_HEALTHCHECK]
    ) as container:
        try:
            wait_until_http_ok(f"http://{container.published(8000)}/healthz", timeout_s=STARTUP_S)
        except Exception as exc:
            raise AssertionError(f"{exc}\n--- container log ---\n{container.logs()}") from exc
        yield container


@pytest.fixture(scope="module")
def base_url(gateway: Container) -> str:
    return f"http://{gateway.published(8000)}"


@pytest.fixture(scope="module")
def admin_token(gateway: Container) -> str:
    return gateway.exec("switchboard", "token", "create", "--email", ADMIN_EMAIL).stdout.strip()


def test_embedded_gateway_in_the_image_answers_healthz(base_url: str) -> None:
    answer = httpx.get(f"{base_url}/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_every_service_reports_serving_over_grpc_on_50051(gateway: Container) -> None:
    with grpc.insecure_channel(gateway.published(50051)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in (
            "switchboard.auth.v1.AuthService",
            "switchboard.registry.v1.RegistryService",
            "switchboard.metrics.v1.MetricsService",
            "switchboard.proxy.v1.ProxyService",
        ):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_a_tools_call_through_the_container_reaches_an_upstream_on_the_host(
    base_url: str, admin_token: str, host_upstream: UpstreamProcess
) -> None:
    with httpx.Client(
        base_url=base_url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30
    ) as admin:
        register(admin, "hosted", host_upstream.url)
        server = create_server(admin, "hosted-server", ["hosted__echo", "hosted__add"])
    client = McpHttp(f"{base_url}/servers/{server}/mcp", admin_token)
    client.initialize()
    listed = client.request("tools/list")["result"]["tools"]
    assert {tool["name"] for tool in listed} == {"hosted__echo", "hosted__add"}
    answer = client.call_tool("hosted__add", {"a": 40, "b": 2})
    assert answer["result"]["content"][0]["text"] == "42"


def test_the_gateway_runs_as_a_fixed_non_root_uid_on_a_read_only_root(gateway: Container) -> None:
    assert gateway.exec("id", "-u").stdout.strip() == str(UID)
    host_config = gateway.inspect()["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True and host_config["CapDrop"] == ["ALL"]
    for elsewhere in ("/opt/switchboard/written", "/tmp/written", "/written"):
        refused = gateway.exec("touch", elsewhere, check=False)
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, elsewhere
    stored = gateway.exec("ls", DATA_DIR).stdout.split()
    assert {"auth.db", "registry.db", "metrics.db"} <= set(stored)


def test_the_image_health_check_turns_healthy(gateway: Container) -> None:
    eventually(lambda: gateway.health() == "healthy", timeout_s=30, what="the container's health: healthy")


def test_one_role_serves_alone_and_stops_cleanly_on_docker_stop(switchboard_images: Images) -> None:
    with run_container(
        switchboard_images.app, ["serve", "registry"], publish=[8000], options=RESTRICTED
    ) as registry:
        wait_until_http_ok(f"http://{registry.published(8000)}/healthz", timeout_s=STARTUP_S)
        # SIGTERM, as Kubernetes sends it: the process is PID 1, which the kernel spares
        # any signal it has no handler for, so only the gateway's own handler ends it.
        subprocess.run(["docker", "stop", "--time", "30", registry.id], check=True, timeout=60)
        assert registry.inspect()["State"]["ExitCode"] == 0, registry.logs()
        log = registry.logs()
        assert "Switchboard registry serving HTTP on http://127.0.0.1:8000 and gRPC on port 50051" in log
        assert "Switchboard stopped." in log


def test_a_stop_during_start_up_ends_the_container_at_once_not_at_the_grace(
    switchboard_images: Images,
) -> None:
    with run_container(
        switchboard_images.app, ["serve", "registry"], publish=[8000], options=RESTRICTED
    ) as registry:
        # PID 1 handles SIGTERM from the CLI's first line (bit 15 of the caught-signals
        # mask): stop it as soon as that is so, while it is still importing and migrating.
        def handles_sigterm() -> bool:
            status = registry.exec("cat", "/proc/1/status", check=False).stdout
            caught = next(
                (line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0"
            )
            return bool(int(caught, 16) & (1 << 14))

        eventually(handles_sigterm, timeout_s=STARTUP_S, what="PID 1 handling SIGTERM")
        stopped = subprocess.run(["docker", "stop", "--time", "60", registry.id], check=True, timeout=90)
        assert stopped.returncode == 0
        state = registry.inspect()["State"]
        # 143: ended by SIGTERM while starting; 0: it had finished starting and drained.
        # Never 137: killed when the grace ran out, the signal ignored.
        assert state["ExitCode"] in (0, 143), registry.logs()


def test_the_runtime_stage_adds_only_the_virtual_environment_to_its_base(switchboard_images: Images) -> None:
    added = size(switchboard_images.app) - size(switchboard_images.base)
    assert 0 < added < MAX_ADDED_BYTES, f"{added / 2**20:.0f} MB over the base"


def test_the_image_hash_covers_exactly_the_files_docker_build_sends(switchboard_images: Images) -> None:
    tag = f"switchboard-context-probe:{uuid.uuid4().hex[:12]}"
    probe = f"FROM {switchboard_images.base}\nCOPY . /context\n"
    try:
        subprocess.run(
            ["docker", "build", "--quiet", "--label", f"{LABEL}=probe", "--tag", tag, "--file", "-", "."],
            input=probe,
            cwd=REPO_ROOT,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        listed = subprocess.run(
            ["docker", "run", "--rm", tag, "find", "/context", "-type", "f"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, timeout=60)
    copied = {Path(line).relative_to("/context").as_posix() for line in listed}
    assert copied == {path.as_posix() for path in context_files()}


def size(tag: str) -> int:
    inspected = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(inspected.stdout)[0]["Size"]
