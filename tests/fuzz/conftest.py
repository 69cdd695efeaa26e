"""One fixture upstream ("alpha") behind one gateway per module, with a virtual server
over the alpha tools that answer on their own. A module sets `gateway_env` to configure
its gateway.

Left out: `progress`, which with a fuzzed `steps` (2**31) and no progress token spins
without ever yielding and freezes the fixture upstream for every client; and
`sample`/`elicit`/`roots`, which wait on answers mcp-fuzzer never gives (it reads a whole
SSE answer before it handles the requests inside). Fuzzing them tests the fixture, not
the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

SERVER_TOOLS = ["alpha__echo", "alpha__add", "alpha__fail", "alpha__slow", "alpha__headers"]


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {}


@pytest.fixture(scope="module")
def alpha() -> Iterator[UpstreamProcess]:
    with start_upstream(name="alpha") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(gateway_env: dict[str, str]) -> Iterator[GatewayProcess]:
    with start_gateway(gateway_env) as process:
        yield process


@pytest.fixture(scope="module")
def token(gateway: GatewayProcess) -> str:
    return gateway.mint_token()


@pytest.fixture(scope="module")
def server_id(gateway: GatewayProcess, token: str, alpha: UpstreamProcess) -> str:
    with httpx.Client(
        base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as admin:
        register(admin, "alpha", alpha.url)
        return create_server(admin, "fuzzed", SERVER_TOOLS)
