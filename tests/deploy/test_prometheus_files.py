"""deploy/monitoring/prometheus/ as Prometheus itself reads it: `promtool check config`
accepts the example configuration (and the rule files it loads), `promtool check rules`
accepts the rules, and every alert names a runbook section that docs/observability.md
has; `promtool test rules` runs the alerts over synthetic series with their real `for:`
durations (deploy/monitoring/prometheus/tests/). Fast: no server starts
(tests/stack/test_prometheus.py evaluates them against a live stack)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "monitoring" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
DOCS = ROOT / "docs" / "observability.md"
REQUIRED_ALERTS = {
    "SwitchboardUpstreamDown",
    "SwitchboardHighErrorRatio",
    "SwitchboardHighCallLatency",
    "SwitchboardMetricsBufferDropping",
    "SwitchboardReplicaNotReady",
    "SwitchboardLeaderMissing",
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is not installed: apt-get install prometheus (scripts/_system_packages.sh)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)


def rules(kind: str) -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def test_promtool_accepts_the_example_config_and_the_rule_files_it_loads() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout + result.stderr


def test_promtool_accepts_every_rule_file() -> None:
    result = promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - record: a:b:c\n        expr: sum(\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_every_alert_fires_on_synthetic_series_and_stays_quiet_before_its_for_duration() -> None:
    # Including: a lease no replica holds, and one no replica reports any more; a replica
    # not scrapeable and one answering 503; an exporter's target down is not a replica.
    tests = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
    assert tests
    result = promtool("test", "rules", *(str(p) for p in tests))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {alert for path in tests for alert in re.findall(r"alertname: (\w+)", path.read_text())}
    assert tested == {rule["alert"] for rule in rules("alert")}


def test_the_example_config_scrapes_each_service_as_the_alerts_expect() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in ("auth", "registry", "metrics", "mcp-proxy"):
        assert jobs[f"switchboard-{service}"]["metrics_path"] == "/internal/metrics"
    assert jobs["switchboard"]["metrics_path"] == "/internal/metrics"
    assert {"postgres", "redis", "nginx", "pgbouncer"} <= set(jobs)


def test_the_alerts_the_issue_asks_for_are_shipped() -> None:
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in rules("alert")}


def test_p50_p95_p99_per_server_and_tool_are_recorded() -> None:
    recorded = {rule["record"] for rule in rules("record")}
    for quantile in ("p50", "p95", "p99"):
        assert f"server_name:switchboard_mcp_call_duration_seconds:{quantile}_rate5m" in recorded


@pytest.mark.parametrize("alert", rules("alert"), ids=lambda rule: rule["alert"])
def test_each_alert_explains_itself_and_names_a_runbook_section_that_exists(alert: dict) -> None:
    annotations = alert["annotations"]
    assert annotations["summary"] and annotations["description"]
    document, _, anchor = annotations["runbook_url"].partition("#")
    assert document == "docs/observability.md"
    assert anchor == alert["alert"].lower()
    headings = {_anchor(line) for line in DOCS.read_text().splitlines() if line.startswith("#")}
    assert anchor in headings, f"docs/observability.md has no heading for #{anchor}"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
