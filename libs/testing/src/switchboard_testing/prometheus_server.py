"""A real Prometheus (Debian's `prometheus`) for tests: started on a free loopback port
with a generated configuration and its own temporary storage, stopped and removed after.

It scrapes and evaluates every second (the shipped example scrapes every 15 s), so a
test sees a change within a few seconds. `query` and `alerts` read its HTTP API the way
Grafana and an operator would.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from switchboard_testing.errors import MissingBinary, ProcessStartError
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import eventually, wait_until_http_ok

SCRAPE_INTERVAL = "1s"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
METRICS_PATH = "/internal/metrics"


@dataclass(frozen=True)
class ScrapeJob:
    """One `scrape_configs` entry with static targets (`host:port`)."""

    name: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"

    def config(self) -> dict:
        return {
            "job_name": self.name,
            "metrics_path": self.metrics_path,
            "static_configs": [{"targets": list(self.targets)}],
        }


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen
    dir: Path

    def query(self, expr: str) -> list[dict]:
        """The instant vector (or scalar, as one sample) `expr` evaluates to now; an
        expression Prometheus rejects raises with its error."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=30)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus rejected {expr!r}: {body.get('error', answer.text)}")
        data = body["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def alerts(self) -> list[dict]:
        """Alerts pending or firing now (`/api/v1/alerts`)."""
        return httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]

    def targets(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]

    def metric_metadata(self) -> dict[str, list[dict]]:
        """What the scraped targets declared about each metric family (HELP, TYPE), also
        for a family with no series yet (a labelled counter nothing has counted)."""
        return httpx.get(f"{self.url}/api/v1/metadata", timeout=10).json()["data"]

    def wait_for_targets_up(self, *, timeout_s: float = 30.0) -> list[dict]:
        """Every target scraped successfully at least once; fails naming the ones that
        were not."""

        def all_up() -> list[dict] | None:
            targets = self.targets()
            return targets if targets and all(t["health"] == "up" for t in targets) else None

        try:
            return eventually(all_up, timeout_s=timeout_s, what="every target up")
        except AssertionError:
            down = [
                f"{t['scrapePool']} {t['scrapeUrl']}: {t['lastError']}"
                for t in self.targets()
                if t["health"] != "up"
            ]
            raise AssertionError(f"targets not up within {timeout_s}s: {down}") from None

    def rule_groups(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def config(jobs: Sequence[ScrapeJob], rule_files: Sequence[Path]) -> dict:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [job.config() for job in jobs],
    }


@contextlib.contextmanager
def start_prometheus(
    jobs: Sequence[ScrapeJob], rule_files: Sequence[Path] = ()
) -> Iterator[PrometheusServer]:
    """Prometheus scraping `jobs` and evaluating `rule_files` (copied into its dir, so a
    test may hand it edited copies); everything it wrote is removed on exit."""
    binary = prometheus_binary()
    if binary is None:
        raise MissingBinary("prometheus is not installed: apt-get install prometheus")
    root = Path(tempfile.mkdtemp(prefix="switchboard-prometheus-"))
    copies = []
    for index, path in enumerate(rule_files):
        copy = root / f"{index}-{path.name}"
        shutil.copyfile(path, copy)
        copies.append(copy)
    config_file = root / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config(jobs, copies), sort_keys=False))
    port = free_port()
    log_path = root / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, root)
    try:
        try:
            wait_until_http_ok(f"{server.url}/-/ready", process=process, timeout_s=START_TIMEOUT_S)
        except ProcessStartError as exc:
            raise ProcessStartError(f"{exc}\n{log_path.read_text(errors='replace')}") from None
        yield server
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = [
    "METRICS_PATH",
    "PrometheusServer",
    "ScrapeJob",
    "prometheus_binary",
    "start_prometheus",
]
