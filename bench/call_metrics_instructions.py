"""Benchmark: machine instructions recording one forwarded call's metrics costs (callgrind).

    uv run python bench/call_metrics_instructions.py [--calls 20000]

The whole-gateway figure (`tools_call_instructions.py`, about 1.4 to 1.7 million
instructions per tools/call here) moves by ±10 % between rounds on a loaded machine:
far more than the 3 % the issue allows call metrics. This counts what they add alone:
`CallMetrics.ended` (outcome, the cached histogram child, `observe`) run `--calls` times
and not at all, each in a fresh interpreter under `valgrind --tool=callgrind`; the
difference divided by `--calls` is the cost of one call's recording. Needs valgrind.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

_RECORD = """
import sys
from switchboard_proxy.call_metrics import CallMetrics
calls = CallMetrics(2000)
final = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "hi"}]}}
calls.ended("tools/call", "srv", "echo", "gw", final, None, 0.001)  # the series' first: labels()
for _ in range(int(sys.argv[1])):
    calls.ended("tools/call", "srv", "echo", "gw", final, None, 0.001)
"""


def instructions(calls: int, tmp: Path) -> int:
    script = tmp / "record.py"
    script.write_text(_RECORD)
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmp}/out",
            sys.executable,
            script,
            str(calls),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        none, many = instructions(0, Path(tmp)), instructions(args.calls, Path(tmp))
    print(f"{(many - none) / args.calls:,.0f} instructions per recorded call")


if __name__ == "__main__":
    main()
