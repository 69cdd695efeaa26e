"""deploy/monitoring/grafana/dashboards/ read as Grafana and Prometheus would: each
dashboard is Grafana JSON of schema ~39 whose panels all query the `${datasource}`
template variable (type prometheus), and every panel query (its template variables
filled in) is PromQL that promtool parses. Fast: no server starts
(tests/stack/test_prometheus.py runs the queries against a live Prometheus)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from switchboard_testing import dashboards

EXPECTED = {"overview", "servers-and-tools", "upstreams", "infrastructure"}
ANY_VALUE = {"server": ".*", "name": ".*", "datasource": "prometheus"}


def test_the_four_dashboards_are_shipped() -> None:
    assert {path.stem for path in dashboards.dashboard_files()} == EXPECTED


@pytest.mark.parametrize("path", dashboards.dashboard_files(), ids=lambda path: path.stem)
def test_each_dashboard_is_grafana_json_on_the_datasource_variable(path: Path) -> None:
    board = dashboards.load(path)
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] == f"switchboard-{path.stem}"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboards.panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboards.panels(board):
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{panel['title']} has no query"
        for source in (panel["datasource"], *(t["datasource"] for t in panel["targets"])):
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_servers_and_tools_can_be_narrowed_to_a_server_and_a_name() -> None:
    board = dashboards.load(dashboards.DASHBOARDS / "servers-and-tools.json")
    assert {"server", "name"} <= {v["name"] for v in board["templating"]["list"]}


def test_every_panel_and_variable_query_is_promql_that_promtool_parses(tmp_path: Path) -> None:
    # promtool has no offline "check expression"; a rule file of one recording rule per
    # query is checked by the same parser Prometheus uses.
    queries = dashboards.panel_queries() + dashboards.variable_queries()
    rules = [
        {"record": f"dashboard:query:{index}", "expr": dashboards.substitute(query.expr, ANY_VALUE)}
        for index, query in enumerate(queries)
    ]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: apt-get install prometheus"
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
