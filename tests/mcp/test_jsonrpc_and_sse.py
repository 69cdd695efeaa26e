from __future__ import annotations

import pytest
from switchboard_mcp import jsonrpc, sse


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ([], "object"),
        ({"id": 1, "method": "ping"}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, "method"),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, "id"),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, "id"),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": []}, "params"),
        ({"jsonrpc": "2.0", "id": 1}, "method"),
    ],
)
def test_bad_envelopes_are_named(message, problem: str) -> None:
    assert problem in jsonrpc.envelope_problem(message)


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}},
    ],
)
def test_good_envelopes_pass(message) -> None:
    assert jsonrpc.envelope_problem(message) is None


def test_sse_round_trip_keeps_multiline_data_and_skips_other_events() -> None:
    body = sse.encode(b'{"a":\n1}', event_id="7") + b"event: ping\ndata: x\n\n" + sse.encode(b"{}")
    assert list(sse.iter_data(body)) == [b'{"a":\n1}', b"{}"]


def test_sse_accepts_crlf_line_endings() -> None:
    assert list(sse.iter_data(b"event: message\r\ndata: {}\r\n\r\n")) == [b"{}"]


def test_an_event_without_data_is_not_dispatched() -> None:
    # The official SDK primes a resumable stream with an id-only event.
    body = b"id: 1\r\ndata: \r\nretry: 500\r\n\r\n" + sse.encode(b'{"ok":1}')
    assert list(sse.iter_data(body)) == [b'{"ok":1}']
