"""Benchmark: what the HTTP edge costs every MCP request before its endpoint runs.

    uv run python bench/edge_layers.py [--requests 20000]

Every request the gateway serves passes the ASGI layers `Host` puts in front of the
app (today `RequestIds(RequestMetrics(RawRoutesFirst(app, raw_routes)))`: a request id,
the request's duration by route template, the one-reading check of repeated headers,
the raw-route match) before the MCP endpoint sees it. This
builds the same layers over the proxy's own raw routes, with an endpoint that answers
at once, and drives `POST /servers/<id>/mcp` requests with a tools/call's headers
through them in process: no socket, no thread, no timer, so the same code makes the
same instructions every run (run it under `valgrind --tool=callgrind` for those) and
its CPU time per request is the layers' alone.

For an A/B against an older checkout, run this file with that checkout's interpreter:
layers it does not have are left out (it says which it found). Prints microseconds of
CPU per request (best of `--repeat`) and writes bench/results/edge_layers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route
from switchboard_core.http.app import RawRoutesFirst

try:  # the request id layer (issue 12); older checkouts have none
    from switchboard_core.http.edge import RequestIds
except ImportError:
    RequestIds = None
try:  # the HTTP RED metrics layer (issue 14); older checkouts have none
    from switchboard_core.http.request_metrics import RequestMetrics
except ImportError:
    RequestMetrics = None

RESULTS = Path(__file__).resolve().parent / "results" / "edge_layers.json"
HEADERS = [
    (b"host", b"127.0.0.1:4444"),
    (b"user-agent", b"wrk"),
    (b"accept", b"application/json, text/event-stream"),
    (b"content-type", b"application/json"),
    (b"mcp-protocol-version", b"2025-06-18"),
    (b"authorization", b"Bearer " + b"x" * 400),
    (b"mcp-session-id", b"s" * 32),
    (b"content-length", b"86"),
]
BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
ANSWER = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}'


class AnswerAtOnce:
    """An ASGI endpoint (an instance, as the proxy's are: Starlette passes it the raw
    scope) that reads the body and answers a tools/call result."""

    async def __call__(self, scope, receive, send) -> None:
        await receive()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})


answer_at_once = AnswerAtOnce()


def edge(layers: list[str], *, metrics: bool = True):
    """The layers `Host` puts in front of the app, over routes shaped like the proxy's
    (`metrics=False`: without `RequestMetrics`, for an A/B in one checkout)."""
    methods = ["GET", "POST", "DELETE"]
    routes = [
        Route("/mcp", answer_at_once, methods=methods),
        Route("/servers/{server_id}/mcp", answer_at_once, methods=methods),
        Route("/sse", answer_at_once, methods=["GET"]),
        Route("/servers/{server_id}/sse", answer_at_once, methods=["GET"]),
        Route("/message", answer_at_once, methods=["POST"]),
        Route("/servers/{server_id}/message", answer_at_once, methods=["POST"]),
        Route("/rpc", answer_at_once, methods=["POST"]),
        Route("/servers/{server_id}/rpc", answer_at_once, methods=["POST"]),
    ]
    app = RawRoutesFirst(Starlette(), routes)
    layers.append("RawRoutesFirst")
    if RequestMetrics is not None and metrics:
        app = RequestMetrics(app)
        layers.append("RequestMetrics")
    if RequestIds is not None:
        app = RequestIds(app)
        layers.append("RequestIds")
    return app


async def drive(app, requests: int) -> int:
    sent = 0

    async def receive():
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message) -> None:
        nonlocal sent
        sent += 1

    for _ in range(requests):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/servers/0b7a4c5e-8f0e-4c61-9d0e-2f6f7e3b9a11/mcp",
            "raw_path": b"/servers/0b7a4c5e-8f0e-4c61-9d0e-2f6f7e3b9a11/mcp",
            "root_path": "",
            "query_string": b"",
            "headers": list(HEADERS),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 4444),
        }
        await app(scope, receive, send)
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="requests per repeat")
    parser.add_argument("--repeat", type=int, default=5, help="repeats; the best is kept")
    parser.add_argument("--no-metrics", action="store_true", help="leave the RequestMetrics layer out")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    layers: list[str] = []
    app = edge(layers, metrics=not args.no_metrics)
    times = []
    for _ in range(args.repeat):
        started = time.process_time()
        sent = asyncio.run(drive(app, args.requests))
        times.append((time.process_time() - started) / args.requests * 1e6)
        if sent != 2 * args.requests:
            raise SystemExit(f"{sent} messages sent for {args.requests} requests: the layers did not answer")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    results = {
        "benchmark": "edge_layers",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip() or None,
        "layers": layers,
        "requests": args.requests,
        "cpu_us_per_request": [round(t, 3) for t in times],
        "best_cpu_us_per_request": round(min(times), 3),
    }
    print(f"layers: {' > '.join(reversed(layers))}")
    print(f"CPU per request: best {min(times):.2f} us of {', '.join(f'{t:.2f}' for t in times)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
