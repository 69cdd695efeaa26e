"""Loaded at interpreter start by a process whose PYTHONPATH names this directory
(`otel_census.census_env`): counts, between SIGUSR1 and SIGUSR2, every entry into
OpenTelemetry code by the function outside it that made the call, and writes the counts
(JSON, "file:function" -> calls) to `SWITCHBOARD_TEST_OTEL_CENSUS` on SIGUSR2.

The main thread only (where the event loop serves requests), and only between the two
signals: profiling the whole start would slow it many times over."""

import collections
import json
import os
import signal
import sys

_OTEL = os.sep + "opentelemetry" + os.sep
_counts: collections.Counter = collections.Counter()


def _profile(frame, event, _arg):
    if event != "call" or _OTEL not in frame.f_code.co_filename:
        return
    caller = frame.f_back
    if caller is not None and _OTEL not in caller.f_code.co_filename:
        _counts[f"{caller.f_code.co_filename}:{caller.f_code.co_name}"] += 1


def _start(_signum, _frame):
    _counts.clear()
    sys.setprofile(_profile)
    _probe()


def _probe():
    """One call of our own, so that a census proves it counted (`PROBE`)."""
    from opentelemetry import trace

    trace.get_current_span()


def _stop(_signum, _frame):
    sys.setprofile(None)
    path = os.environ["SWITCHBOARD_TEST_OTEL_CENSUS"]
    with open(path + ".part", "w") as out:
        json.dump(dict(_counts), out)
    os.replace(path + ".part", path)


signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)
