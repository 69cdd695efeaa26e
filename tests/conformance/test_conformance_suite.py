"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, server scenarios,
active suite) against the gateway fronting the conformance fixture upstream, and against the
fixture directly. See docs/conformance.md.

Every scenario must pass through the gateway except those in `KNOWN_GAPS`, each with the reason
it fails today. The list only shrinks: a scenario listed there that passes fails this test too,
until its entry is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from switchboard_testing.conformance import (
    NodeUnavailable,
    SuiteRun,
    install_suite,
    run_suite,
    start_conformance_upstream,
)
from switchboard_testing.conformance_proxy import start_header_proxy
from switchboard_testing.conformance_server import PROMPT_NAMES, RESOURCE_TEMPLATES, RESOURCE_URIS, TOOL_NAMES
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.upstream_process import UpstreamProcess

# Scenario -> why it fails through the gateway today. Remove an entry once it passes.
KNOWN_GAPS: dict[str, str] = {}

GATEWAY_NAME = "conformance"
# The active suite has 30 server scenarios in 0.1.16; fewer means the run broke off.
MIN_SCENARIOS = 30

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def suite_installed() -> None:
    try:
        install_suite()
    except NodeUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to install the conformance suite and Node 22 from npm: {exc}")
        pytest.skip(f"the conformance suite needs Node 22 from npm, which could not be installed: {exc}")


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_conformance_upstream(name=GATEWAY_NAME) as process:
        yield process


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway() as process:
        yield process


@pytest.fixture(scope="module")
def gateway_endpoint(gateway: GatewayProcess, upstream: UpstreamProcess) -> Iterator[str]:
    """`/servers/{id}/mcp` of a bare-named server with everything the fixture offers, behind
    a proxy that adds the bearer token (the suite cannot send headers)."""
    token = gateway.mint_token()
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway.base_url, headers=auth, timeout=30) as admin:
        registered = admin.post("/gateways", json={"name": GATEWAY_NAME, "url": upstream.url})
        assert registered.status_code == 201, registered.text
        server_id = _create_server_with_everything(admin)
    with start_header_proxy(gateway.base_url, auth) as proxy_url:
        yield f"{proxy_url}/servers/{server_id}/mcp"


def _create_server_with_everything(admin: httpx.Client) -> str:
    whole_gateway = {"name": "conformance", "gateways": [GATEWAY_NAME], "bare_names": True}
    response = admin.post("/servers", json=whole_gateway)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _ran_whole_suite(run: SuiteRun) -> None:
    assert len(run.scenarios) >= MIN_SCENARIOS, (
        f"only {len(run.scenarios)} scenarios reported (exit {run.returncode}):\n{run.output[-4000:]}"
    )


async def test_the_fixture_offers_every_name_the_suite_calls(upstream: UpstreamProcess) -> None:
    async with Client(streamable_http_client(upstream.url), mode="legacy") as client:
        capabilities = client.server_capabilities
        tools = {tool.name for tool in (await client.list_tools()).tools}
        resources = {str(resource.uri) for resource in (await client.list_resources()).resources}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
    assert capabilities.resources is not None and capabilities.resources.subscribe
    assert capabilities.logging is not None and capabilities.completions is not None
    assert (tools, resources, templates, prompts) == (
        set(TOOL_NAMES),
        set(RESOURCE_URIS),
        set(RESOURCE_TEMPLATES),
        set(PROMPT_NAMES),
    )


def test_the_fixture_passes_every_active_scenario_directly(
    suite_installed: None, upstream: UpstreamProcess
) -> None:
    run = run_suite(upstream.url)
    _ran_whole_suite(run)
    assert not run.failed, f"the fixture itself fails scenarios:\n{run.report()}"
    assert run.returncode == 0, run.output[-4000:]


def test_the_gateway_passes_every_active_scenario_but_its_known_gaps(
    suite_installed: None, gateway_endpoint: str, gateway: GatewayProcess
) -> None:
    run = run_suite(gateway_endpoint)
    _ran_whole_suite(run)
    unexpected = [name for name in run.failed if name not in KNOWN_GAPS]
    now_passing = [name for name in KNOWN_GAPS if name in run.passed]
    not_in_suite = [name for name in KNOWN_GAPS if name not in run.scenarios]
    assert not (unexpected or now_passing or not_in_suite), "\n".join(
        [
            f"failing, not in KNOWN_GAPS: {unexpected}",
            f"passing, so remove from KNOWN_GAPS: {now_passing}",
            f"in KNOWN_GAPS but not run by the suite: {not_in_suite}",
            "--- every scenario ---",
            run.report(),
            "--- gateway log (end) ---",
            gateway.log()[-4000:],
        ]
    )
