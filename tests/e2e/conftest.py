from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway() as process:
        yield process


@pytest.fixture(scope="module")
def admin_token(gateway: GatewayProcess) -> str:
    return gateway.mint_token()


@pytest.fixture(scope="module")
def admin(gateway: GatewayProcess, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gateway.base_url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture(scope="module")
def fixture_upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="alpha") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def modern_upstream() -> Iterator[UpstreamProcess]:
    """A fixture upstream serving only the stateless revision (2026-07-28)."""
    with start_upstream(name="modern-only", modern_only=True) as upstream:
        yield upstream
