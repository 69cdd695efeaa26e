"""Which code enters OpenTelemetry in a process under test, and how often.

`census_env(path)` is the environment that makes a started process (a gateway) load the
census (`sitecustomize.py` here); `SIGUSR1` starts counting, `SIGUSR2` writes the counts
to `path`. What a test learns from it: whether a code path calls into tracing at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Where the census's own probe call is counted: present in every census that counted.
PROBE = "sitecustomize.py:_probe"


def census_env(path: Path) -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH", "")
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(_HERE), existing) if p),
        "SWITCHBOARD_TEST_OTEL_CENSUS": str(path),
    }


def read_census(path: Path) -> dict[str, int]:
    """The counts, less the census's own probe; fails if the probe is missing (no census ran)."""
    counts = json.loads(path.read_text())
    probes = [where for where in counts if where.endswith(PROBE)]
    assert probes, f"the census did not count (no {PROBE}): {counts}"
    for where in probes:
        del counts[where]
    return counts
