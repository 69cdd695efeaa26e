"""Every `switchboard_` metric a process can expose has its row in docs/observability.md,
under the name a scrape shows (a counter with `_total`) and with its type."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY
from switchboard_core.http import request_metrics  # noqa: F401 - the in-flight gauge's reading
from switchboard_core.prometheus import catalogue, exposition  # noqa: F401 - registers every metric

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
ROW = re.compile(r"^\| `(switchboard_[a-z0-9_]+)` \| (\w+) \|", re.MULTILINE)


def exposed() -> dict[str, str]:
    """Each metric's name as scraped, with its type."""
    names = {}
    for family in REGISTRY.collect():
        if family.name.startswith("switchboard_"):
            name = f"{family.name}_total" if family.type == "counter" else family.name
            names[name] = family.type
    return names


def documented() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text()))


def test_every_exposed_metric_is_documented_with_its_type() -> None:
    rows = documented()
    missing = sorted(set(exposed()) - set(rows))
    assert not missing, f"add a row to docs/observability.md for {missing}"
    wrong = {name: (kind, rows[name]) for name, kind in exposed().items() if rows[name] != kind}
    assert not wrong, wrong
