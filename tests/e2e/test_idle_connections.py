"""Every listener of a gateway bounds how long a client may hold a connection without
asking anything: the HTTP face closes one that sends no byte, a request header that
trickles in, or an idle keep-alive connection after `SWITCHBOARD_HTTP_HEADER_TIMEOUT_S`;
the gRPC face closes one that never finishes its handshake, and one without calls
after `SWITCHBOARD_GRPC_MAX_CONNECTION_IDLE_S`; a REST body that trickles in is refused with
408 after `SWITCHBOARD_HTTP_BODY_TIMEOUT_S`. What a client asked for is
never cut by it: an open SSE stream and a tool call slower than the timeout go on."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess

TIMEOUT_S = 1.5
GRPC_IDLE_S = 3.0
# An HTTP/2 client's first bytes: the preface and an empty SETTINGS frame.
HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
# How late past the timeout a close may come on a loaded machine.
SLACK_S = 10.0


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    env = {
        "SWITCHBOARD_HTTP_HEADER_TIMEOUT_S": str(TIMEOUT_S),
        "SWITCHBOARD_HTTP_BODY_TIMEOUT_S": str(TIMEOUT_S),
        "SWITCHBOARD_GRPC_HANDSHAKE_TIMEOUT_S": str(TIMEOUT_S),
        "SWITCHBOARD_GRPC_MAX_CONNECTION_IDLE_S": str(GRPC_IDLE_S),
    }
    with start_gateway(env) as process:
        yield process


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(TIMEOUT_S + SLACK_S)
    return sock


def _port(gateway: GatewayProcess) -> int:
    return int(gateway.base_url.rsplit(":", 1)[1])


def _seconds_until_closed(sock: socket.socket) -> float:
    """How long the server took to close `sock` (reading and dropping whatever it sent);
    fails when it is still open past the timeout and its slack."""
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the connection was still open after {TIMEOUT_S + SLACK_S}s") from None
    return time.monotonic() - started


def _is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True  # nothing to read, and not closed
    finally:
        sock.settimeout(TIMEOUT_S + SLACK_S)


def test_an_http_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    gateway: GatewayProcess,
) -> None:
    with _connect(_port(gateway)) as sock:
        assert TIMEOUT_S - 0.5 <= _seconds_until_closed(sock)


def test_a_request_header_that_trickles_in_is_cut_at_the_header_timeout(gateway: GatewayProcess) -> None:
    with _connect(_port(gateway)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never the final blank line
        assert TIMEOUT_S - 0.5 <= _seconds_until_closed(sock)


def test_an_idle_keep_alive_connection_is_closed_after_the_header_timeout(gateway: GatewayProcess) -> None:
    with _connect(_port(gateway)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        _seconds_until_closed(sock)


def test_a_rest_body_that_trickles_in_is_refused_408_at_the_body_timeout(gateway: GatewayProcess) -> None:
    # The sign-in route reads its body before any token is looked at: anyone may try this.
    with _connect(_port(gateway)) as sock:
        sock.sendall(
            b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        started = time.monotonic()
        answer = sock.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"SWITCHBOARD_HTTP_BODY_TIMEOUT_S" in answer
    assert TIMEOUT_S - 0.5 <= waited


def test_a_grpc_connection_that_never_shakes_hands_is_closed(gateway: GatewayProcess) -> None:
    with _connect(gateway.grpc_port) as silent, _connect(gateway.grpc_port) as half:
        half.sendall(b"PRI * HTTP/2.0\r\n")  # the start of the HTTP/2 preface, no more
        assert TIMEOUT_S - 0.5 <= _seconds_until_closed(silent)
        _seconds_until_closed(half)


def test_a_grpc_connection_that_shook_hands_and_calls_nothing_is_closed_when_idle(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway.grpc_port) as idle:
        idle.sendall(HTTP2_HELLO)
        assert GRPC_IDLE_S - 0.5 <= _seconds_until_closed(idle)


def test_an_open_sse_stream_outlives_the_header_timeout(gateway: GatewayProcess, admin_token: str) -> None:
    mcp = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    mcp.initialize()
    with _connect(_port(gateway)) as stream:
        headers = "".join(f"{k}: {v}\r\n" for k, v in mcp.headers(accept="text/event-stream").items())
        stream.sendall(f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        assert stream.recv(4096).startswith(b"HTTP/1.1 200")
        # Silent connections opened after the stream, closed by the timeout: the clock.
        for _ in range(2):
            with _connect(_port(gateway)) as clock:
                _seconds_until_closed(clock)
        assert _is_open(stream)
        # Ending the session ends its stream: the connection was alive to be told.
        assert httpx.delete(f"{gateway.base_url}/mcp", headers=mcp.headers(), timeout=30).status_code == 204
        _seconds_until_closed(stream)


def test_a_tool_call_slower_than_the_header_timeout_is_answered(
    gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess, admin_token: str
) -> None:
    register(admin, "patient", fixture_upstream.url)
    server = create_server(admin, "patient", ["patient__slow"], bare_names=True)
    mcp = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", admin_token)
    mcp.initialize()
    started = time.monotonic()
    answer = mcp.post(
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 3}},
        },
        accept="application/json",
    )
    assert time.monotonic() - started >= 3 > TIMEOUT_S
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["isError"] is False, answer.text
