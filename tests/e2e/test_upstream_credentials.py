"""A whole embedded gateway calling an upstream that requires a bearer token: the
gateway's credentials reach it, the client's own token never does, and a changed
credential is used from the next call on."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from switchboard_core.security.sealing import KEY_FILE
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

pytestmark = pytest.mark.e2e

FIRST = "sk-e2e-first-2b7c"
SECOND = "sk-e2e-second-9d1e"


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    # No health round in the tests' time: after the rotation the registry's checks fail
    # to open the credentials too, and two of them would hold the tools back as "down"
    # before the proxy's own, clearer error is seen.
    with start_gateway({"SWITCHBOARD_HEALTH_INTERVAL_S": "3600"}) as process:
        yield process


@pytest.fixture(scope="module")
def gated() -> Iterator[UpstreamProcess]:
    with start_upstream(name="gated", accept_headers=(f"authorization: Bearer {FIRST}",)) as upstream:
        yield upstream


def cli(gateway: GatewayProcess, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`switchboard ARGS` against the gateway, with more environment (the secrets' variables)."""
    result = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", *args],
        env={**gateway.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def headers_seen(client: McpHttp) -> dict[str, Any]:
    """What the upstream's `headers` tool saw of the call's request, or the call's error."""
    answer = client.call_tool("gated__headers", {})
    if "error" in answer:
        return {"error": answer["error"]}
    result = answer["result"]
    seen = result.get("structuredContent") or json.loads(result["content"][0]["text"])
    return seen.get("result", seen)


def gate_seen(upstream: UpstreamProcess) -> list[str]:
    return httpx.get(f"{upstream.base_url}/seen", trust_env=False).json()["authorization"]


@pytest.fixture(scope="module")
def gateway_id(gateway: GatewayProcess, admin_token: str, gated: UpstreamProcess) -> str:
    added = cli(
        gateway,
        "gateways",
        "add",
        "gated",
        gated.url,
        "--bearer-env",
        "GATED_TOKEN",
        "--token",
        admin_token,
        GATED_TOKEN=FIRST,
    )
    assert FIRST not in added.stdout + added.stderr
    shown = json.loads(added.stdout)
    assert shown["auth"] == {"type": "bearer", "configured": True}
    return shown["id"]


def test_a_call_reaches_the_upstream_with_the_gateways_token_never_the_clients(
    gateway: GatewayProcess, admin_token: str, gated: UpstreamProcess, gateway_id: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    seen = headers_seen(client)
    assert seen.get("authorization") == f"Bearer {FIRST}", seen
    echoed = client.call_tool("gated__echo", {"text": "through"})
    assert echoed["result"]["content"][0]["text"] == "through"
    received = gate_seen(gated)
    assert received and all(value == f"Bearer {FIRST}" for value in received)
    assert not any(admin_token in value for value in received)


def test_a_client_with_sessions_of_its_own_sends_the_credentials_too(
    gateway: GatewayProcess, admin_token: str, gated: UpstreamProcess, gateway_id: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    opened = client.post(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": client.protocol_version,
                "capabilities": {"sampling": {}},
                "clientInfo": {"name": "sampling-client", "version": "0"},
            },
        }
    )
    client.session_id = opened.headers["mcp-session-id"]
    assert client.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
    assert headers_seen(client).get("authorization") == f"Bearer {FIRST}"
    assert not any(admin_token in value for value in gate_seen(gated))


def test_after_the_credential_changes_the_next_call_uses_the_new_one(
    gateway: GatewayProcess, admin_token: str, admin: httpx.Client, gated: UpstreamProcess, gateway_id: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    assert headers_seen(client).get("authorization") == f"Bearer {FIRST}"
    httpx.post(f"{gated.base_url}/accept", json=[f"authorization: Bearer {SECOND}"], trust_env=False)
    changed = cli(
        gateway,
        "gateways",
        "auth",
        gateway_id,
        "--bearer-env",
        "NEW_TOKEN",
        "--token",
        admin_token,
        NEW_TOKEN=SECOND,
    )
    assert SECOND not in changed.stdout and json.loads(changed.stdout)["auth"]["type"] == "bearer"
    # The proxy hears of the change over the registry's feed: wait for that, not longer.
    deadline = time.monotonic() + 10
    seen = headers_seen(client)
    while seen.get("authorization") != f"Bearer {SECOND}" and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = headers_seen(client)
    assert seen.get("authorization") == f"Bearer {SECOND}", seen
    listed = admin.get("/gateways").text
    assert FIRST not in listed and SECOND not in listed
    assert not any(admin_token in value for value in gate_seen(gated))


def test_the_embedded_gateway_made_its_own_key(gateway: GatewayProcess, gateway_id: str) -> None:
    path = gateway.data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip().split(":")[1]
    log = gateway.log_path.read_text(errors="replace")
    assert "made a key" in log
    assert key not in log and FIRST not in log and SECOND not in log


def test_rotation_reseals_and_a_key_the_gateway_lacks_fails_its_calls_clearly(
    gateway: GatewayProcess, admin_token: str, admin: httpx.Client, gateway_id: str
) -> None:
    own = (gateway.data_dir / KEY_FILE).read_text().strip()
    new = cli(gateway, "secrets", "new-key").stdout.strip()
    keys = f"{new},{own}"
    first = cli(gateway, "secrets", "rotate", SWITCHBOARD_SECRET_KEYS=keys)
    assert first.stdout.startswith("re-sealed 1, already sealed with the first key 0")
    # The signing keys are sealed with the same keys, and re-sealed with them.
    assert "signing keys: re-sealed 1, already sealed with the first key 0" in first.stdout
    again = cli(gateway, "secrets", "rotate", SWITCHBOARD_SECRET_KEYS=keys)
    assert again.stdout.startswith("re-sealed 0, already sealed with the first key 1")
    assert "signing keys: re-sealed 0, already sealed with the first key 1" in again.stdout
    assert new.split(":")[1] not in first.stdout + again.stdout

    # The running gateway still has only its own key: once its catalog is new (any change
    # makes it so), the gateway's calls fail, naming it and the key it lacks.
    assert admin.patch(f"/gateways/{gateway_id}", json={"visibility": "public"}).status_code == 200
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    deadline = time.monotonic() + 10
    seen = headers_seen(client)
    while "error" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = headers_seen(client)
    message = seen["error"]["message"]
    assert "credentials of gateway 'gated' cannot be opened" in message
    assert repr(new.split(":")[0]) in message
    assert gateway.process.poll() is None
