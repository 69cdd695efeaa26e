"""One reading of each request: every MCP endpoint refuses a foreign Origin, caps JSON-RPC
batches before acting on any message, and every face (MCP and REST) refuses a request
repeating a header a decision rests on. Each endpoint is a `Door`: adding an endpoint is
adding a door to `DOORS` (and to `BATCHING` if it takes batches)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import ACCEPT, McpHttp
from switchboard_testing.upstream_process import UpstreamProcess

MAX_BATCH = 3
LISTED_ORIGIN = "https://app.example"
TALLY = "rules__tally"
MODERN = "2026-07-28"

Headers = list[tuple[str, str]]


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    env = {
        "SWITCHBOARD_MAX_BATCH_MESSAGES": str(MAX_BATCH),
        "SWITCHBOARD_ALLOWED_ORIGINS": json.dumps([LISTED_ORIGIN]),
    }
    with start_gateway(env) as process:
        yield process


@pytest.fixture(scope="module")
def server_id(admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "rules", fixture_upstream.url)
    return create_server(admin, "rules", [TALLY, "rules__echo"])


def _merged(defaults: dict[str, str], extra: Headers) -> Headers:
    """The door's own headers, less those `extra` names, then `extra` (repeats kept)."""
    named = {name.lower() for name, _ in extra}
    return [(k, v) for k, v in defaults.items() if k not in named] + extra


def _call(id_: object, name: str = TALLY) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": {}}}


def _tallied(answer: dict) -> int:
    return int(answer["result"]["content"][0]["text"])


class Door:
    """One MCP endpoint, ready for a request: `send` makes its usual request (a tools/call
    of the upstream's tally, or opening the stream), with headers added or replaced."""

    ids = itertools.count(1)

    def send(self, extra: Headers = ()) -> httpx.Response:
        raise NotImplementedError

    def tally(self) -> int:
        """The upstream's tally after one more call through this door."""
        raise NotImplementedError

    def batch(self, size: int) -> tuple[httpx.Response, list[dict]]:
        """A batch of `size` tally calls: the response and the answers it brought."""
        raise NotImplementedError


class SessionDoor(Door):
    """Streamable HTTP in a 2025-03-26 session (the version that may batch)."""

    def __init__(self, url: str, token: str) -> None:
        self.client = McpHttp(url, token, protocol_version="2025-03-26")
        self.client.initialize()

    def _post(self, body: object, extra: Headers = ()) -> httpx.Response:
        headers = _merged(self.client.headers(), list(extra))
        return httpx.post(self.client.url, content=orjson.dumps(body), headers=headers, timeout=30)

    def send(self, extra: Headers = ()) -> httpx.Response:
        return self._post(_call(next(self.ids)), extra)

    def tally(self) -> int:
        return _tallied(self.send().json())

    def batch(self, size: int) -> tuple[httpx.Response, list[dict]]:
        response = self._post([_call(next(self.ids)) for _ in range(size)])
        return response, response.json() if response.status_code == 200 else []


class RpcDoor(SessionDoor):
    """Plain JSON-RPC at /rpc or /servers/{id}/rpc: no session."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.defaults = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    def _post(self, body: object, extra: Headers = ()) -> httpx.Response:
        headers = _merged(self.defaults, list(extra))
        return httpx.post(self.url, content=orjson.dumps(body), headers=headers, timeout=30)


class StatelessDoor(RpcDoor):
    """The stateless revision (2026-07-28) at /mcp or /servers/{id}/mcp."""

    def send(self, extra: Headers = ()) -> httpx.Response:
        body = _call(next(self.ids))
        body["params"]["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        routing = {
            "accept": ACCEPT,
            "mcp-protocol-version": MODERN,
            "mcp-method": "tools/call",
            "mcp-name": TALLY,
        }
        return self._post(body, _merged(routing, list(extra)))


class LegacyDoor(Door):
    """HTTP+SSE (2024-11-05): POSTs to /message while the GET /sse stream is open; the
    answers come on the stream."""

    def __init__(self, http: httpx.Client, sse_url: str) -> None:
        self.http = http
        self.stream = contextlib.ExitStack()
        response = self.stream.enter_context(http.stream("GET", sse_url))
        self.lines = response.iter_lines()
        kind, self.endpoint = self._event()
        assert kind == "endpoint"
        initialize = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t"}},
        }
        assert self._post(initialize).status_code == 202
        self._answers(1)

    def _event(self) -> tuple[str, str]:
        kind, data = "message", []
        for line in self.lines:
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                return kind, "\n".join(data)
        raise AssertionError("the stream ended")

    def _answers(self, count: int) -> list[dict]:
        return [json.loads(self._event()[1]) for _ in range(count)]

    def _post(self, body: object, extra: Headers = ()) -> httpx.Response:
        headers = _merged({"content-type": "application/json"}, list(extra))
        return self.http.post(self.endpoint, content=orjson.dumps(body), headers=headers)

    def send(self, extra: Headers = ()) -> httpx.Response:
        response = self._post(_call(next(self.ids)), extra)
        if response.status_code == 202:
            self._answers(1)
        return response

    def tally(self) -> int:
        assert self._post(_call(next(self.ids))).status_code == 202
        return _tallied(self._answers(1)[0])

    def batch(self, size: int) -> tuple[httpx.Response, list[dict]]:
        response = self._post([_call(next(self.ids)) for _ in range(size)])
        return response, self._answers(size) if response.status_code == 202 else []


class StreamOpening(Door):
    """GET /sse itself: opening the legacy stream."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.defaults = {"authorization": f"Bearer {token}"}

    def send(self, extra: Headers = ()) -> httpx.Response:
        with httpx.stream(
            "GET", self.url, headers=_merged(self.defaults, list(extra)), timeout=30
        ) as response:
            if response.status_code != 200:
                response.read()
            return response


@contextlib.contextmanager
def _legacy(base: str, token: str, path: str) -> Iterator[Door]:
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        door = LegacyDoor(http, path)
        with door.stream:
            yield door


# Each door: how to open it, given the gateway's base URL, a token and the server's id.
DoorMaker = Callable[[str, str, str], contextlib.AbstractContextManager[Door]]


def _plain(make: Callable[[str, str, str], Door]) -> DoorMaker:
    return lambda base, token, server: contextlib.nullcontext(make(base, token, server))


BATCHING: dict[str, DoorMaker] = {
    "/mcp": _plain(lambda b, t, s: SessionDoor(f"{b}/mcp", t)),
    "/servers/{id}/mcp": _plain(lambda b, t, s: SessionDoor(f"{b}/servers/{s}/mcp", t)),
    "/rpc": _plain(lambda b, t, s: RpcDoor(f"{b}/rpc", t)),
    "/servers/{id}/rpc": _plain(lambda b, t, s: RpcDoor(f"{b}/servers/{s}/rpc", t)),
    "/message": lambda b, t, s: _legacy(b, t, "/sse"),
    "/servers/{id}/message": lambda b, t, s: _legacy(b, t, f"/servers/{s}/sse"),
}
DOORS: dict[str, DoorMaker] = {
    **BATCHING,
    "/mcp (2026-07-28)": _plain(lambda b, t, s: StatelessDoor(f"{b}/mcp", t)),
    "/servers/{id}/mcp (2026-07-28)": _plain(lambda b, t, s: StatelessDoor(f"{b}/servers/{s}/mcp", t)),
    "/sse": _plain(lambda b, t, s: StreamOpening(f"{b}/sse", t)),
    "/servers/{id}/sse": _plain(lambda b, t, s: StreamOpening(f"{b}/servers/{s}/sse", t)),
}


@pytest.fixture(params=list(DOORS))
def door(request, gateway: GatewayProcess, admin_token: str, server_id: str) -> Iterator[Door]:
    with DOORS[request.param](gateway.base_url, admin_token, server_id) as opened:
        yield opened


@pytest.fixture(params=list(BATCHING))
def batching_door(request, gateway: GatewayProcess, admin_token: str, server_id: str) -> Iterator[Door]:
    with BATCHING[request.param](gateway.base_url, admin_token, server_id) as opened:
        yield opened


def _succeeded(response: httpx.Response) -> bool:
    return response.status_code in (200, 202)


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "http://localhost.evil.example", "null", "http://[::1"]
)
def test_each_mcp_endpoint_refuses_a_foreign_origin(door: Door, origin: str) -> None:
    response = door.send([("origin", origin)])
    assert response.status_code == 403
    assert response.json()["error"] == {"code": -32600, "message": "Origin not allowed"}


def test_a_refused_origin_reaches_no_upstream(batching_door: Door) -> None:
    before = batching_door.tally()
    assert batching_door.send([("origin", "http://evil.example")]).status_code == 403
    assert batching_door.tally() == before + 1


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1", "http://[::1]:8080", LISTED_ORIGIN]
)
def test_each_mcp_endpoint_serves_a_loopback_or_listed_origin(door: Door, origin: str) -> None:
    response = door.send([("origin", origin)])
    assert _succeeded(response), response.text


def test_each_batching_endpoint_answers_a_batch_up_to_the_limit_and_refuses_a_longer_one_unread(
    batching_door: Door,
) -> None:
    before = batching_door.tally()
    response, answers = batching_door.batch(MAX_BATCH)
    assert _succeeded(response), response.text
    assert sorted(_tallied(a) for a in answers) == [before + n for n in range(1, MAX_BATCH + 1)]

    response, _ = batching_door.batch(MAX_BATCH + 1)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32600, "message": f"a batch holds 1 to {MAX_BATCH} messages"}
    # Not one of the refused batch's calls reached the upstream.
    assert batching_door.tally() == before + MAX_BATCH + 1


def test_an_empty_batch_is_refused(batching_door: Door) -> None:
    response, _ = batching_door.batch(0)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize("order", ["good first", "good last"])
def test_each_mcp_endpoint_refuses_two_authorization_headers(
    door: Door, admin_token: str, order: str
) -> None:
    tokens = [f"Bearer {admin_token}", "Bearer not-a-token"]
    if order == "good last":
        tokens.reverse()
    response = door.send([("authorization", token) for token in tokens])
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    assert response.json()["error"] == {
        "code": -32600,
        "message": "the authorization header appears more than once",
    }
    # The same request with one header is served.
    assert _succeeded(door.send([("authorization", tokens[0] if order == "good first" else tokens[1])]))


REST_ROUTES = ["/auth/me", "/servers", "/gateways", "/metrics/summary"]


@pytest.mark.parametrize("path", REST_ROUTES)
@pytest.mark.parametrize("order", ["good first", "good last"])
def test_each_rest_service_refuses_two_authorization_headers(
    gateway: GatewayProcess, admin_token: str, path: str, order: str
) -> None:
    tokens = [f"Bearer {admin_token}", "Bearer not-a-token"]
    if order == "good last":
        tokens.reverse()
    headers = [("authorization", token) for token in tokens]
    response = httpx.get(gateway.base_url + path, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    assert response.json() == {
        "error": "InvalidInput",
        "detail": "the authorization header appears more than once",
    }
    single = httpx.get(
        gateway.base_url + path, headers=[("authorization", f"Bearer {admin_token}")], timeout=30
    )
    assert single.status_code == 200, single.text


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("mcp-session-id", -32600),
        ("content-type", -32600),
        ("origin", -32600),
        ("last-event-id", -32600),
        ("x-forwarded-for", -32600),
        ("mcp-protocol-version", -32020),
        ("mcp-method", -32020),
    ],
)
def test_a_repeated_header_a_decision_rests_on_is_refused(
    gateway: GatewayProcess, admin_token: str, server_id: str, header: str, code: int
) -> None:
    door = SessionDoor(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
    value = dict(door.client.headers()).get(header, "http://localhost" if header == "origin" else "x")
    response = door.send([(header, value), (header, value)])
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": code,
        "message": f"the {header} header appears more than once",
    }
    rest = httpx.get(
        gateway.base_url + "/servers",
        headers=[("authorization", f"Bearer {admin_token}"), (header, value), (header, value)],
        timeout=30,
    )
    assert rest.status_code == 400
    assert rest.json()["detail"] == f"the {header} header appears more than once"


def test_a_repeated_host_is_refused(gateway: GatewayProcess, admin_token: str) -> None:
    # httpx will not send two Host lines: the request is written by hand.
    host, port = gateway.base_url.removeprefix("http://").split(":")
    body = orjson.dumps(_call(1, "rules__echo"))
    head = (
        f"POST /rpc HTTP/1.1\r\nHost: {host}:{port}\r\nHost: evil.example\r\n"
        f"Authorization: Bearer {admin_token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + body)
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    reply = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert reply["error"]["message"] == "the host header appears more than once"
