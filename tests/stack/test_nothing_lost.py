"""Nothing lost when an mcp-proxy replica is killed mid-load: its clients' sessions go on
through the other replica, every acknowledged registry write is there, and the
metrics lost are at most what the killed replica had buffered (one flush window)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.mcp_http import session_headers
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

VERSION = "2025-11-25"
FLUSH_WINDOW_S = 1.0  # SWITCHBOARD_METRICS_FLUSH_INTERVAL_S, the product default


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2, "restart_replicas": True, "rate_limit": 100_000, "rate_burst": 100_000}


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="steady") as running:
        yield running


def test_killing_a_proxy_replica_mid_load_loses_no_session_write_or_more_than_a_flush(
    stack: StackProcess, upstream: UpstreamProcess
) -> None:
    token = stack.login()
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        _kill_a_replica_mid_load(stack, upstream, admin, token)


def _kill_a_replica_mid_load(
    stack: StackProcess, upstream: UpstreamProcess, admin: httpx.Client, token: str
) -> None:
    register(admin, "steady", upstream.url)
    server_id = create_server(admin, "steady", ["steady__echo"], bare_names=True)
    url = f"{stack.url}/servers/{server_id}/mcp"
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "load"}},
    }
    session_id = httpx.post(url, content=orjson.dumps(init), headers=session_headers(token)).headers[
        "mcp-session-id"
    ]

    acknowledged: list[float] = []  # when each call that succeeded was answered
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": str(n)}},
                }
                try:
                    response = client.post(
                        url, content=orjson.dumps(body), headers=session_headers(token, session_id)
                    )
                except httpx.TransportError as exc:
                    failures.append(type(exc).__name__)
                    continue
                if response.status_code == 200 and response.json()["result"]["content"][0]["text"] == str(n):
                    acknowledged.append(time.monotonic())
                else:
                    failures.append(f"{response.status_code} {response.text[:80]}")

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2.0)
        victim = next(p for p in stack.state["processes"] if p["group"] == "mcp-proxy")
        writes = [
            admin.post("/servers", json={"name": f"written-{i}", "tools": ["steady__echo"]}) for i in range(3)
        ]
        killed_at = time.monotonic()
        os.kill(victim["pid"], signal.SIGKILL)
        writes += [
            admin.post("/servers", json={"name": f"written-{i}", "tools": ["steady__echo"]})
            for i in range(3, 6)
        ]
        time.sleep(3.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    after_kill = [t for t in acknowledged if t > killed_at + 0.5]
    assert len(after_kill) > 20, "the session went on through the other replica"
    assert len(failures) <= 8, f"only calls in flight on the killed replica may fail: {failures}"
    assert all(w.status_code == 201 for w in writes), [w.text for w in writes]
    names = {s["name"] for s in admin.get("/servers", params={"limit": 100}).json()["items"]}
    assert {f"written-{i}" for i in range(6)} <= names, "every acknowledged registry write is there"

    # Metrics: whatever the killed replica had not flushed is gone, and nothing else.
    at_risk = len([t for t in acknowledged if killed_at - FLUSH_WINDOW_S - 0.5 <= t <= killed_at])
    deadline = time.monotonic() + 15
    while True:
        rows = admin.get("/metrics/tools", params={"server_id": server_id}).json()["tools"]
        recorded = sum(row["calls"] for row in rows if row["tool"] == "echo")
        if recorded >= len(acknowledged) - at_risk or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(acknowledged) - at_risk <= recorded <= len(acknowledged) + len(failures)
