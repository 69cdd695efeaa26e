"""mcp-fuzzer against the gateway: no 5xx, no crash, no hang, and other clients keep being served.

Each scenario runs the pinned mcp-fuzzer (protocol or tool mode, bounded runs, fixed
seed) through a recording proxy, while a bystander client calls a tool in a loop on
its own session. See docs/fuzzing.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from switchboard_testing.fuzzing import Bystander, RecordingProxy, fuzzer_command, run_fuzzer
from switchboard_testing.gateway_process import GatewayProcess

pytestmark = pytest.mark.e2e

SEED = os.environ.get("SWITCHBOARD_FUZZ_SEED", "1")
# Longer than the gateway's upstream timeout below: a fuzzer timeout means the gateway hung.
REQUEST_TIMEOUT = ("--timeout", "15", "--tool-timeout", "15")
# A bystander call slower than this counts as the gateway stalling other clients.
BYSTANDER_MAX_S = 5.0
FUZZER_DEADLINE_S = 90.0


@dataclass(frozen=True)
class Scenario:
    endpoint: str  # "server" (/servers/{id}/mcp) or "all" (/mcp)
    args: tuple[str, ...]
    min_runs: int


SCENARIOS = {
    "protocol-realistic-server": Scenario(
        "server", ("--mode", "protocol", "--protocol-phase", "realistic", "--runs-per-type", "3"), 60
    ),
    "protocol-aggressive-server": Scenario(
        "server",
        ("--mode", "protocol", "--protocol-phase", "aggressive", "--runs-per-type", "5")
        + ("--stateful", "--stateful-runs", "3"),
        100,
    ),
    # alpha__slow is on the server: fuzzed durations must end in the gateway's upstream timeout.
    "tools-both-phases-server": Scenario(
        "server", ("--mode", "tools", "--phase", "both", "--runs", "5", "--fail-if-no-tools"), 50
    ),
    # /mcp federates every alpha tool, those left off the server too (see conftest): protocol
    # mode only, whose tool calls use schema-shaped arguments.
    "protocol-aggressive-all": Scenario(
        "all", ("--mode", "protocol", "--protocol-phase", "aggressive", "--runs-per-type", "3"), 60
    ),
}


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    # The fuzzer answers none of the upstream's requests: its calls end when the wait does.
    return {"SWITCHBOARD_UPSTREAM_TIMEOUT_S": "3", "SWITCHBOARD_INPUT_WAIT_S": "3"}


@pytest.fixture(scope="module")
def fuzzer() -> list[str]:
    command = fuzzer_command()
    if command is None:
        pytest.skip("mcp-fuzzer runs through `uv tool run` (or $MCP_FUZZER_COMMAND); neither is available")
    return command


@pytest.fixture(scope="module")
def proxy(gateway: GatewayProcess):
    with RecordingProxy(gateway.base_url) as running:
        yield running


@pytest.mark.parametrize("name", SCENARIOS)
def test_fuzzing_finds_no_server_fault_and_other_clients_keep_being_served(
    name: str,
    fuzzer: list[str],
    gateway: GatewayProcess,
    token: str,
    server_id: str,
    proxy: RecordingProxy,
    tmp_path: Path,
) -> None:
    scenario = SCENARIOS[name]
    path = f"/servers/{server_id}/mcp" if scenario.endpoint == "server" else "/mcp"
    mark = len(proxy.exchanges)

    with Bystander(f"{gateway.base_url}/servers/{server_id}/mcp", token, "alpha__echo") as bystander:
        run = run_fuzzer(
            proxy.url + path,
            token,
            [*scenario.args, "--seed", SEED, *REQUEST_TIMEOUT],
            workdir=tmp_path,
            command=fuzzer,
            timeout_s=FUZZER_DEADLINE_S,
        )

    report = run.report
    assert run.returncode == 0, run.output[-4000:]
    assert report.summary["status"] == "completed", report.summary
    assert report.total_runs >= scenario.min_runs, report.summary
    assert report.server_faults() == []

    exchanges = proxy.since(mark)
    assert len(exchanges) >= report.total_runs // 2, "the fuzzer's traffic did not go through the proxy"
    assert [e for e in exchanges if e.status >= 500] == []

    assert gateway.process.poll() is None, gateway.log()
    log = gateway.log()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log

    assert bystander.calls, "the bystander made no call while the fuzzer ran"
    assert bystander.failures == []
    assert bystander.slowest_s < BYSTANDER_MAX_S
    assert httpx.get(f"{gateway.base_url}/healthz", timeout=5).status_code == 200
