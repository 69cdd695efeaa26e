"""`switchboard_mcp_streams_open{kind}`: the server-to-client streams this replica holds.

A stream is counted while the coroutine serving it runs (`held`), whatever ends it: a
client leaving, the session ending, an error. Listen streams (2026-07-28) are read from
their registry at scrape time instead (`ListenStreams`), costing nothing per stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from switchboard_core.prometheus.catalogue import MCP_STREAMS_OPEN

GET, POST, LEGACY_SSE, LISTEN = "get", "post", "legacy_sse", "listen"
_GAUGES = {kind: MCP_STREAMS_OPEN.labels(kind) for kind in (GET, POST, LEGACY_SSE, LISTEN)}


@contextlib.contextmanager
def held(kind: str) -> Iterator[None]:
    gauge = _GAUGES[kind]
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
