"""Rate limits through a running gateway: MCP requests and admin calls spend one budget
per token and one per user, and a spent one answers 429 with `Retry-After`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.gateway_process import GatewayProcess, start_gateway

# A day's window: the test never straddles its end (midnight UTC) in practice.
LIMITS = {"SWITCHBOARD_RATE_LIMIT_PER_TOKEN": "3/24h", "SWITCHBOARD_RATE_LIMIT_PER_USER": "5/24h"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}


@pytest.fixture(scope="module")
def limited() -> Iterator[GatewayProcess]:
    with start_gateway(LIMITS) as process:
        yield process


def _rpc(gateway: GatewayProcess, token: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.post(f"{gateway.base_url}/rpc", json=TOOLS_LIST, headers=headers, timeout=30)


def _gateways(gateway: GatewayProcess, token: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.get(f"{gateway.base_url}/gateways", headers=headers, timeout=30)


def test_a_token_over_its_limit_gets_429_with_retry_after_and_its_user_the_rest_of_theirs(
    limited: GatewayProcess,
) -> None:
    first, second = limited.mint_token(), limited.mint_token()
    assert [_rpc(limited, first).status_code for _ in range(3)] == [200] * 3

    refused = _rpc(limited, first)
    assert refused.status_code == 429, refused.text
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= 24 * 3600
    error = refused.json()["error"]
    assert error["code"] == -32029
    assert error["data"] == {"retry_after": retry_after}
    assert refused.json()["id"] is None

    # The other token of the same user has the two requests the user has left, on
    # the admin API as on the MCP endpoint.
    assert _rpc(limited, second).status_code == 200
    assert _gateways(limited, second).status_code == 200
    spent = _gateways(limited, second)
    assert spent.status_code == 429, spent.text
    assert 0 < int(spent.headers["retry-after"]) <= 24 * 3600
    assert spent.json()["error"] == "RateLimited"
    assert _rpc(limited, second).status_code == 429
