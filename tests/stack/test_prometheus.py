"""A real Prometheus over a whole `stack up --replicas 2` topology: it scrapes every
replica of every service at `/internal/metrics`, and the Postgres, Redis, nginx and
PgBouncer exporters; after traffic through nginx (tools/call, resources/read,
prompts/get, admin REST), every recording rule and alert expression shipped in
deploy/monitoring/prometheus/rules/ and every panel query of every dashboard in
deploy/monitoring/grafana/dashboards/ returns series; and stopping an upstream makes
SwitchboardUpstreamDown pending, then firing.

Two kinds of expression return nothing by design while all is well, and are checked in
a form that shows they evaluate over series that exist:
- an alert: its expression without its thresholds (SwitchboardUpstreamDown's
  `max by (upstream, upstream_name) (switchboard_upstream_up) == 0` without `== 0`);
- a query over a family that only grows on a fault (pool waits, rate-limit
  refusals, upstream errors: QUIET_WHEN_HEALTHY): when it returns nothing,
  every metric family it names must be one of those, and declared by the scraped
  targets (Prometheus holds its HELP and TYPE), so the query reads a metric that is
  exported and simply has nothing to count yet.

Prometheus loads the shipped recording rules as they are, and a copy of alerts.yml whose
`for:` durations are shortened to FOR_IN_TEST (1 minute is the shipped value), so the
upstream-down alert can be seen to go pending and fire within the test. The registry
checks upstream health every second here (SWITCHBOARD_HEALTH_INTERVAL_S), not every 10.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from switchboard_testing import dashboards
from switchboard_testing.admin_api import register
from switchboard_testing.exporters import EXPORTERS, Exporter, stack_jobs, start_exporters
from switchboard_testing.prometheus_server import PrometheusServer, start_prometheus
from switchboard_testing.readiness import eventually
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "prometheus" / "rules"
REPLICAS = 2
FOR_IN_TEST = "2s"
QUIET_WHEN_HEALTHY = {
    "switchboard_upstream_errors": "no upstream failed a request",
    "switchboard_db_pool_waits": "no pool ran out of connections",
    "switchboard_rate_limit_refusals": "no client went over a limit",
}
_THRESHOLD = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+(?:e[+-]?[0-9]+)?")
# A metric name, not the middle of a recorded series' name (`level:metric:operation`).
_METRIC = re.compile(r"(?<![:\w])((?:switchboard|pg|redis|nginx|pgbouncer|process)_[a-z0-9_]+)(?![:\w])")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {
        "replicas": REPLICAS,
        "proxy_replicas": REPLICAS,
        "env": {
            "SWITCHBOARD_HEALTH_INTERVAL_S": "1",
            "SWITCHBOARD_HEALTH_TIMEOUT_S": "0.5",
            "SWITCHBOARD_HEALTH_FAILURES": "1",
        },
    }


@pytest.fixture(scope="module")
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def alpha() -> Iterator[UpstreamProcess]:
    with start_upstream(name="alpha") as running:
        yield running


@pytest.fixture(scope="module")
def beta() -> Iterator[UpstreamProcess]:
    """The upstream the last test stops."""
    with start_upstream(name="beta") as running:
        yield running


def expose(admin: httpx.Client, name: str, upstream: UpstreamProcess) -> dict:
    """A gateway for `upstream` and a virtual server with all of its items: the server's
    id, and the names it gives the upstream's tools and prompts."""
    gateway = register(admin, name, upstream.url)
    server = admin.post("/servers", json={"name": name, "gateways": [gateway["id"]]})
    assert server.status_code == 201, server.text
    body = server.json()
    return {
        "id": body["id"],
        "tools": {t["upstream_name"]: t["name"] for t in body["tools"]},
        "prompts": {p["upstream_name"]: p["name"] for p in body["prompts"]},
    }


def rpc(admin: httpx.Client, server_id: str, method: str, params: dict) -> dict:
    answer = admin.post(
        f"/servers/{server_id}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def call_tool(admin: httpx.Client, server: dict, name: str, arguments: dict) -> dict:
    return rpc(admin, server["id"], "tools/call", {"name": name, "arguments": arguments})


@pytest.fixture(scope="module")
def servers(admin: httpx.Client, alpha: UpstreamProcess, beta: UpstreamProcess) -> dict[str, dict]:
    return {"alpha": expose(admin, "alpha", alpha), "beta": expose(admin, "beta", beta)}


@pytest.fixture(scope="module")
def traffic(admin: httpx.Client, servers: dict[str, dict]) -> dict[str, dict]:
    """Calls of every kind through nginx, enough to reach every replica: tools/call
    (answered, and a tool's own error), resources/read, prompts/get, admin reads."""
    for server in servers.values():
        tools = server["tools"]
        for i in range(6):
            added = call_tool(admin, server, tools["add"], {"a": i, "b": 1})
            assert added["result"]["content"][0]["text"] == str(i + 1)
            call_tool(admin, server, tools["echo"], {"text": "hi"})
            assert call_tool(admin, server, tools["fail"], {"message": "no"})["result"]["isError"]
            assert "result" in rpc(admin, server["id"], "resources/read", {"uri": "fixture://static"})
            prompt = {"name": server["prompts"]["greet"], "arguments": {"name": "x"}}
            assert "result" in rpc(admin, server["id"], "prompts/get", prompt)
    for path in ("/gateways", "/tools", "/servers", "/prompts", "/resources", "/auth/me", "/metrics/tools"):
        for _ in range(4):
            assert admin.get(path).status_code == 200, path
    return servers


@pytest.fixture(scope="module")
def exporters(stack: StackProcess) -> Iterator[dict[str, Exporter]]:
    with start_exporters(stack) as running:
        yield running


@pytest.fixture(scope="module")
def alerts_for_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alerts.yml with every `for:` shortened to FOR_IN_TEST."""
    document = yaml.safe_load((RULES / "alerts.yml").read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["for"] = FOR_IN_TEST
    copy = tmp_path_factory.mktemp("rules") / "alerts.yml"
    copy.write_text(yaml.safe_dump(document, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def prometheus(
    stack: StackProcess, exporters: dict[str, Exporter], alerts_for_test: Path
) -> Iterator[PrometheusServer]:
    with start_prometheus(stack_jobs(stack, exporters), [RULES / "recording.yml", alerts_for_test]) as server:
        server.wait_for_targets_up(timeout_s=30)
        yield server


@pytest.fixture(scope="module")
def scraped(prometheus: PrometheusServer, traffic: dict[str, dict]) -> PrometheusServer:
    """Prometheus once it has scraped the traffic and evaluated the rules over it: the
    p99 per server and tool is recorded for both virtual servers."""

    def recorded() -> bool:
        found = prometheus.query("server_name:switchboard_mcp_call_duration_seconds:p99_rate5m")
        return {sample["metric"].get("server") for sample in found} >= {s["id"] for s in traffic.values()}

    eventually(recorded, timeout_s=30, what="the p99 of both servers recorded")
    return prometheus


def rules(kind: str) -> list[dict]:
    return [
        rule
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def without_thresholds(expr: str) -> str:
    """An alert's expression without its comparisons to constants: the series it
    compares, which exist while all is well."""
    return _THRESHOLD.sub("", expr)


def families(expr: str) -> set[str]:
    """The metric families `expr` reads (suffixes of counters and histograms removed)."""
    names = set()
    for name in _METRIC.findall(expr):
        for suffix in _SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


def series_or_quiet(prometheus: PrometheusServer, what: str, expr: str, declared: set[str]) -> str | None:
    """None when `expr` returns series, or returns none only because every family it
    reads is quiet while healthy and `declared` (exported by a target); else what is
    wrong."""
    if prometheus.query(expr):
        return None
    read = families(expr)
    if not read or not read <= set(QUIET_WHEN_HEALTHY):
        return f"{what} returned no series: {expr}"
    if not read <= declared:
        return f"{what}: {sorted(read - declared)} not exported by any target: {expr}"
    return None


# --- scraping ----------------------------------------------------------------------------


def test_prometheus_scrapes_every_replica_of_every_service_and_every_exporter(
    stack: StackProcess, prometheus: PrometheusServer
) -> None:
    targets = prometheus.wait_for_targets_up()
    by_job: dict[str, set[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], set()).add(target["labels"]["instance"])
    for service in stack.state["topology"]["replicas"]:
        assert by_job[f"switchboard-{service}"] == set(stack.replica_addresses(service))
        assert len(by_job[f"switchboard-{service}"]) == REPLICAS
    assert set(EXPORTERS) <= set(by_job)
    for exporter_up in ("pg_up", "redis_up", "nginx_up", 'up{job="pgbouncer"}'):
        assert [s["value"][1] for s in prometheus.query(exporter_up)] == ["1"], exporter_up
    ready = prometheus.query('switchboard_ready{job=~"switchboard-.*"}')
    assert len(ready) == REPLICAS * len(by_job.keys() - set(EXPORTERS))
    assert {s["value"][1] for s in ready} == {"1"}


def test_calls_through_nginx_are_recorded_by_every_proxy_replica(
    stack: StackProcess, scraped: PrometheusServer
) -> None:
    by_replica = scraped.query(
        'sum by (instance, method) (switchboard_mcp_call_duration_seconds_count{job="switchboard-mcp-proxy"})'
    )
    assert {s["metric"]["instance"] for s in by_replica} == set(stack.replica_addresses("mcp-proxy"))
    assert {s["metric"]["method"] for s in by_replica} == {"tools/call", "resources/read", "prompts/get"}
    # Every replica of every service counts the HTTP requests it serves (its readiness
    # probes at least).
    served = scraped.query(
        'count by (instance) (switchboard_http_request_duration_seconds_count{job=~"switchboard-.*"})'
    )
    assert len(served) == REPLICAS * len(stack.state["topology"]["replicas"])


# --- the shipped rules -------------------------------------------------------------------


@pytest.mark.parametrize("rule", rules("record"), ids=lambda rule: rule["record"])
def test_each_recording_rule_returns_series_after_traffic(scraped: PrometheusServer, rule: dict) -> None:
    assert scraped.query(rule["expr"]), f"{rule['record']}: no series from {rule['expr']}"
    # And Prometheus itself records it from the file it loaded.
    eventually(lambda: scraped.query(rule["record"]), timeout_s=10, what=f"{rule['record']} recorded")


@pytest.mark.parametrize("rule", rules("alert"), ids=lambda rule: rule["alert"])
def test_each_alert_expression_evaluates_over_existing_series(scraped: PrometheusServer, rule: dict) -> None:
    # The alert itself is quiet while all is well; without its thresholds it is the
    # series the alert compares, which must exist (else the alert could never fire).
    assert scraped.query(rule["expr"]) is not None  # accepted by Prometheus
    stripped = without_thresholds(rule["expr"])
    assert stripped != rule["expr"], f"{rule['alert']} has no threshold to strip"
    assert scraped.query(stripped), f"{rule['alert']}: no series under {stripped}"


# --- the shipped dashboards --------------------------------------------------------------


def test_every_dashboard_variable_finds_values(scraped: PrometheusServer) -> None:
    for query in dashboards.variable_queries():
        assert scraped.query(dashboards.substitute(query.expr, {"server": ".*", "name": ".*"})), query.id


def test_every_dashboard_panel_query_returns_series(
    scraped: PrometheusServer, traffic: dict[str, dict]
) -> None:
    # The variables as an operator picks them: one virtual server and one tool of it;
    # then "All".
    alpha = traffic["alpha"]
    choices = [
        {"server": alpha["id"], "name": alpha["tools"]["add"]},
        {"server": ".*", "name": ".*"},
    ]
    queries = dashboards.panel_queries()
    assert len(queries) > 50
    declared = {name.removesuffix("_total") for name in scraped.metric_metadata()}
    problems = [
        problem
        for values in choices
        for query in queries
        if (
            problem := series_or_quiet(scraped, query.id, dashboards.substitute(query.expr, values), declared)
        )
    ]
    assert not problems, "\n".join(problems)
    # The check itself: a query over a misspelt family, quiet or not, is refused.
    assert series_or_quiet(scraped, "typo", "rate(switchboard_redis_error_total[1m])", declared)
    assert series_or_quiet(scraped, "typo", "switchboard_upstream_upp", declared)


# --- an upstream goes down ---------------------------------------------------------------


def test_a_stopped_upstream_makes_the_upstream_down_alert_pending_then_firing(
    scraped: PrometheusServer, traffic: dict[str, dict], beta: UpstreamProcess
) -> None:
    beta.stop()

    def alert_state() -> str | None:
        for alert in scraped.alerts():
            if (
                alert["labels"]["alertname"] == "SwitchboardUpstreamDown"
                and alert["labels"].get("upstream_name") == "beta"
            ):
                return alert["state"]
        return None

    assert eventually(alert_state, timeout_s=30, what="SwitchboardUpstreamDown for beta") in (
        "pending",
        "firing",
    )
    eventually(lambda: alert_state() == "firing", timeout_s=30, what="SwitchboardUpstreamDown firing")
    # Only beta: alpha is up.
    down = {
        a["labels"].get("upstream_name")
        for a in scraped.alerts()
        if a["labels"]["alertname"] == "SwitchboardUpstreamDown"
    }
    assert down == {"beta"}
    # The Upstreams dashboard counts it.
    (upstreams_down,) = [q for q in dashboards.panel_queries() if q.panel == "Upstreams down"]
    assert [s["value"][1] for s in scraped.query(upstreams_down.expr)] == ["1"]
