"""Containers a test runs from the images of `docker_images`, removed (with their
anonymous volumes) when the test is done with them, whatever happened."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard_testing.docker_images import LABEL

DOCKER_TIMEOUT_S = 60


@dataclass(frozen=True)
class Container:
    id: str
    name: str

    def inspect(self) -> dict[str, Any]:
        return json.loads(_docker("inspect", self.id))[0]

    def health(self) -> str:
        """The HEALTHCHECK's verdict: starting, healthy or unhealthy."""
        return self.inspect()["State"].get("Health", {}).get("Status", "none")

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def published(self, port: int) -> str:
        """`host:port` on loopback where the container's TCP `port` is published."""
        binding = self.inspect()["NetworkSettings"]["Ports"][f"{port}/tcp"][0]
        return f"{binding['HostIp']}:{binding['HostPort']}"

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `command` in the container (as its user, with its environment)."""
        result = subprocess.run(
            ["docker", "exec", self.id, *command], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def logs(self) -> str:
        result = subprocess.run(
            ["docker", "logs", self.id], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S
        )
        return result.stdout + result.stderr


@contextlib.contextmanager
def run_container(
    image: str,
    command: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    publish: Sequence[int] = (),
    options: Sequence[str] = (),
) -> Iterator[Container]:
    """`docker run -d image command`, each port of `publish` on a free loopback port
    (Docker's pick: no race with other tests for it), `options` as further `docker run`
    flags; yielded at once (wait on it), removed with its volumes on exit."""
    name = f"switchboard-test-{uuid.uuid4().hex[:12]}"
    arguments = [
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        f"{LABEL}=container",
        *(f"--env={key}={value}" for key, value in (env or {}).items()),
        *(f"--publish=127.0.0.1::{port}" for port in publish),
        *options,
        image,
        *command,
    ]
    try:
        container = Container(_docker(*arguments).strip(), name)
        yield container
    finally:
        # By name: a `docker run` that failed after creating the container left one too.
        subprocess.run(
            ["docker", "rm", "--force", "--volumes", name], capture_output=True, timeout=DOCKER_TIMEOUT_S
        )


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge, where containers on it reach the host."""
    network = json.loads(_docker("network", "inspect", "bridge"))[0]
    if gateway := network["IPAM"]["Config"][0].get("Gateway"):
        return gateway
    # The default bridge often names no gateway: it is the bridge interface's own address.
    interface = network["Options"].get("com.docker.network.bridge.name", "docker0")
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", interface],
        capture_output=True,
        text=True,
        check=True,
        timeout=DOCKER_TIMEOUT_S,
    ).stdout
    return shown.split(" inet ", 1)[1].split("/", 1)[0]


def _docker(*arguments: str) -> str:
    result = subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)
    if result.returncode != 0:
        raise AssertionError(f"docker {' '.join(arguments[:3])} … failed: {result.stderr.strip()}")
    return result.stdout
