"""The PromQL a shipped Grafana dashboard runs, as Prometheus would receive it.

Grafana fills in template variables before it sends a query; a test does the same with
values it chooses (`substitute`), so the expressions checked are the ones an operator's
Grafana sends. A `label_values(metric, label)` variable is checked as the query Grafana
turns it into: the series of `metric` (`variable_queries`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
DASHBOARDS = ROOT / "deploy" / "monitoring" / "grafana" / "dashboards"
# Grafana's own interval variables, as a 1 s scrape interval makes them.
BUILT_IN = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}: {self.panel} [{self.ref_id}]"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(board: dict) -> Iterator[dict]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold theirs


def panel_queries() -> list[PanelQuery]:
    return [
        PanelQuery(path.stem, panel["title"], target["refId"], target["expr"])
        for path in dashboard_files()
        for panel in panels(load(path))
        for target in panel.get("targets", [])
    ]


def variable_queries() -> list[PanelQuery]:
    """Each query variable's `label_values(metric, label)` as the instant query that
    finds the same values: `group by (label) (metric)`."""
    found = []
    for path in dashboard_files():
        for variable in load(path)["templating"]["list"]:
            if variable["type"] != "query":
                continue
            text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = _LABEL_VALUES.match(text.strip())
            if match is None:
                raise ValueError(f"{path.name}: variable {variable['name']} is not label_values(…): {text}")
            metric, label = match.groups()
            found.append(
                PanelQuery(path.stem, f"variable {variable['name']}", "var", f"group by ({label}) ({metric})")
            )
    return found


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with every `$name` / `${name}` replaced: Grafana's built-ins, then `values`
    (a variable the test did not give a value is an error)."""
    known = {**BUILT_IN, **values}

    def fill(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise KeyError(f"no value for ${name} in {expr}")
        return known[name]

    return _VARIABLE.sub(fill, expr)
