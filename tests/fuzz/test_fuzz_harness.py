"""The fuzzing harness itself: what it counts as a server fault, and what the proxy records.

The report files below have the shape mcp-fuzzer 0.7.0 writes (run_summary.json,
sessions/<id>/<stamp>_error_report.json, the --export-csv file).
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from switchboard_testing.fuzzing import TOOL_RUNS_CSV, FuzzReport, RecordingProxy


def write_report(
    directory: Path, protocol_errors: list[dict], tool_rows: list[dict], crashed: int = 0
) -> Path:
    summary = {
        "status": "completed",
        "protocols": {"total_runs": len(protocol_errors), "by_type": {}},
        "tools": {
            "total_runs": len(tool_rows),
            "by_name": {"alpha__echo": {"outcomes": {"crashed": crashed, "server_rejected": 1}}},
        },
    }
    (directory / "run_summary.json").write_text(json.dumps(summary))
    session = directory / "sessions" / "s1"
    session.mkdir(parents=True)
    errors = {"data": {"errors": protocol_errors}}
    (session / "20260101_000000_error_report.json").write_text(json.dumps(errors))
    with open(directory / TOOL_RUNS_CSV, "w", newline="") as f:
        writer = csv.DictWriter(f, ["Tool Name", "Run Number", "Exception Message", "Arguments"])
        writer.writeheader()
        writer.writerows(tool_rows)
    return directory


def protocol_error(error: str | None, outcome: str = "transport_error") -> dict:
    return {
        "type": "protocol_error",
        "protocol_type": "CallToolRequest",
        "details": {
            "fuzz_data": {"method": "tools/call", "params": {"name": "timed out HTTP 500"}},
            "result": {"response": None, "error": error},
            "outcome": outcome,
        },
    }


def tool_row(exception: str) -> dict:
    return {"Tool Name": "alpha__slow", "Run Number": "1", "Exception Message": exception, "Arguments": "{}"}


def test_json_rpc_errors_and_4xx_are_answers_not_faults(tmp_path: Path) -> None:
    report = FuzzReport.load(
        write_report(
            tmp_path,
            [
                protocol_error("Server error: {'code': -32601, 'message': 'Method not found'}"),
                protocol_error('HTTP 400: {"jsonrpc":"2.0"}'),
                protocol_error(None, outcome="accepted_malformed"),
            ],
            [
                tool_row("Server error: {'code': -32011, 'message': 'upstream timed out after 3s'}"),
                tool_row(""),
            ],
        )
    )
    assert report.total_runs == 5
    assert report.server_faults() == []


@pytest.mark.parametrize(
    "error, outcome",
    [
        ("HTTP 500: Internal Server Error", "transport_error"),
        ("HTTP 503: Service Unavailable", "transport_error"),
        ("Request timed out while waiting for server response", "transport_error"),
        ("Connection failed while contacting server", "transport_error"),
        ("Server error: {'code': -32603}", "crashed"),
    ],
)
def test_5xx_hangs_and_crashes_in_protocol_runs_are_faults(tmp_path: Path, error: str, outcome: str) -> None:
    report = FuzzReport.load(write_report(tmp_path, [protocol_error(error, outcome)], []))
    assert len(report.server_faults()) == 1


@pytest.mark.parametrize(
    "exception",
    ["HTTP 502: Bad Gateway", "Tool execution timed out after 15.0s", "Request timed out while waiting"],
)
def test_5xx_and_hangs_in_tool_runs_are_faults(tmp_path: Path, exception: str) -> None:
    report = FuzzReport.load(write_report(tmp_path, [], [tool_row(exception)]))
    assert report.server_faults() == [f"alpha__slow: {exception} <- {{}}"]


def test_a_crashed_tool_run_is_a_fault(tmp_path: Path) -> None:
    report = FuzzReport.load(write_report(tmp_path, [], [], crashed=2))
    assert report.server_faults() == ["alpha__echo: 2 crashed run(s)"]


@pytest.fixture
def backend() -> Iterator[str]:
    """Answers POST /ok with 200 and its body, anything else with 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            status = 200 if self.path == "/ok" else 503
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_proxy_passes_answers_through_and_records_each_status(backend: str) -> None:
    with RecordingProxy(backend) as proxy:
        ok = httpx.post(f"{proxy.url}/ok", content=b'{"x":1}', headers={"content-type": "application/json"})
        failed = httpx.post(f"{proxy.url}/broken", content=b"{}")

    assert (ok.status_code, ok.content) == (200, b'{"x":1}')
    assert failed.status_code == 503
    assert [(e.method, e.path, e.status) for e in proxy.exchanges] == [
        ("POST", "/ok", 200),
        ("POST", "/broken", 503),
    ]


def test_the_proxy_records_an_unreachable_target_as_502() -> None:
    with RecordingProxy("http://127.0.0.1:9") as proxy:
        response = httpx.post(f"{proxy.url}/mcp", content=b"{}")
    assert response.status_code == 502
    assert proxy.exchanges[0].status == 502
