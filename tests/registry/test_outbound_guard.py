"""Registering an upstream the gateway must not reach (SSRF guard) is refused, and nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from switchboard_core.service import Runtime
from switchboard_registry import RegistryService, RegistrySettings

ALLOW_HINT = "; allow it with SWITCHBOARD_OUTBOUND_ALLOW"


@pytest.fixture
def outbound_allow() -> list[str]:
    """The registry's `SWITCHBOARD_OUTBOUND_ALLOW`: nothing, unless a test says otherwise."""
    return []


@pytest.fixture
async def registry_service(tmp_path: Path, outbound_allow: list[str]) -> AsyncIterator[RegistryService]:
    settings = RegistrySettings(data_dir=tmp_path, discovery_timeout_s=5.0, outbound_allow=outbound_allow)
    service = RegistryService(settings)
    await service.start(Runtime(settings))
    try:
        yield service
    finally:
        await service.drain()
        await service.stop()


def _port(url: str) -> str:
    return url.split(":")[2].split("/")[0]


async def _register(api: httpx.AsyncClient, name: str, url: str) -> httpx.Response:
    return await api.post("/gateways", json={"name": name, "url": url})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/mcp", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/mcp", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/mcp", "::ffff:7f00:1 (127.0.0.1) is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://10.0.0.5/mcp", "10.0.0.5 is a private address"),
        ("https://192.168.1.20:8443/mcp", "192.168.1.20 is a private address"),
        ("http://100.64.0.1/mcp", "100.64.0.1 is a shared (CGNAT) address"),
        ("http://[fe80::1]/mcp", "fe80::1 is a link-local address"),
        ("http://0.0.0.0:{port}/mcp", "0.0.0.0 is an unspecified address"),
    ],
)
async def test_an_upstream_at_a_forbidden_address_is_refused_with_the_reason_and_nothing_is_stored(
    api, alpha, url: str, reason: str
) -> None:
    asked_before = await alpha.asked("initialize")
    response = await _register(api, "inside", url.format(port=_port(alpha.url)))

    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"could not register 'inside': outbound connection refused: {reason}{ALLOW_HINT}"
    )
    assert (await api.get("/gateways")).json()["total"] == 0
    assert (await api.get("/tools")).json()["total"] == 0
    assert await alpha.asked("initialize") == asked_before


@pytest.mark.parametrize("outbound_allow", [["127.0.0.1/32"]])
async def test_an_upstream_in_an_allow_listed_network_is_registered(api, alpha) -> None:
    assert (await _register(api, "alpha", alpha.url)).status_code == 201
    assert (await api.get("/gateways")).json()["total"] == 1


@pytest.mark.parametrize("outbound_allow", [["localhost"]])
async def test_an_allow_listed_host_is_registered_but_not_its_address_spelled_out(api, alpha) -> None:
    by_name = await _register(api, "named", f"http://localhost:{_port(alpha.url)}/mcp")
    by_address = await _register(api, "spelled", alpha.url)

    assert by_name.status_code == 201
    assert by_address.status_code == 400
    assert "127.0.0.1 is a loopback address" in by_address.json()["detail"]
    assert [g["name"] for g in (await api.get("/gateways")).json()["items"]] == ["named"]
