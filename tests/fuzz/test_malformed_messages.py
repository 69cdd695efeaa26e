"""Malformed messages sent straight to the MCP endpoint, and the answer each must get.

Sources (MCP 2025-11-25): basic/index.mdx ("Messages": requests carry a string or
integer id, never null; params is an object; error responses carry the request's id
"except in error cases where the ID could not be read"), basic/transports.mdx
(Streamable HTTP: the body MUST be a single JSON-RPC message, so no batches since
2025-06-18; a message the server cannot accept gets an HTTP error status; an unsupported
MCP-Protocol-Version gets 400), server/tools.mdx ("Error Handling": an unknown tool or a
request failing the CallToolRequest schema is a protocol error, -32602), and JSON-RPC 2.0
§4-5 for the codes: -32700 for JSON that does not parse, -32600 for JSON that is not a
valid request object, -32601 for an unknown method, -32602 for invalid params.

A request the server cannot even read as JSON-RPC is rejected with 400; a well-formed
request that fails is answered like any request (200) with a JSON-RPC error. The one
thing never allowed is a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp

pytestmark = pytest.mark.e2e

LIMIT = 16 * 1024
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602


@dataclass(frozen=True)
class Reply:
    status: tuple[int, ...]
    kind: str = "error"  # "error", "result", or "either"
    codes: tuple[int, ...] = ()  # the JSON-RPC error codes allowed; () allows any


@dataclass(frozen=True)
class Case:
    body: bytes | list[bytes]  # a list is sent chunked, without a Content-Length
    reply: Reply
    headers: dict[str, str | None] = field(default_factory=dict)  # None removes a header


def bad_request(*codes: int) -> Reply:
    return Reply((400,), "error", codes)


def answered_with(code: int) -> Reply:
    return Reply((200,), "error", (code,))


def message(**fields: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **fields}).encode()


def request(method: str, params: object = None, **fields: object) -> bytes:
    extra = {} if params is None else {"params": params}
    return message(id=1, method=method, **extra, **fields)


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def echo(text: str) -> bytes:
    return request("tools/call", {"name": "alpha__echo", "arguments": {"text": text}})


PING = request("ping")

CASES: dict[str, Case] = {
    # -32700: not JSON at all.
    "truncated JSON": Case(b'{"jsonrpc": "2.0", "id": 1, "method": ', bad_request(PARSE_ERROR)),
    "empty body": Case(b"", bad_request(PARSE_ERROR)),
    "invalid UTF-8": Case(b'{"jsonrpc":"2.0","id":1,"method":"ping\xff"}', bad_request(PARSE_ERROR)),
    "NaN literal": Case(
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":NaN}}', bad_request(PARSE_ERROR)
    ),
    "nesting deeper than any parser goes": Case(
        f'{{"jsonrpc":"2.0","id":1,"method":"ping","params":{nested(1100)}}}'.encode(),
        bad_request(PARSE_ERROR, INVALID_REQUEST),
    ),
    # -32600: JSON, but not a JSON-RPC message.
    "a number": Case(b"42", bad_request(INVALID_REQUEST)),
    "a string": Case(b'"ping"', bad_request(INVALID_REQUEST)),
    "null": Case(b"null", bad_request(INVALID_REQUEST)),
    "a batch of one": Case(b"[" + PING + b"]", bad_request(INVALID_REQUEST)),
    "an empty batch": Case(b"[]", bad_request(INVALID_REQUEST)),
    "jsonrpc 1.0": Case(
        json.dumps({"jsonrpc": "1.0", "id": 1, "method": "ping"}).encode(), bad_request(INVALID_REQUEST)
    ),
    "jsonrpc missing": Case(json.dumps({"id": 1, "method": "ping"}).encode(), bad_request(INVALID_REQUEST)),
    "jsonrpc a number": Case(b'{"jsonrpc":2.0,"id":1,"method":"ping"}', bad_request(INVALID_REQUEST)),
    "method missing": Case(message(id=1), bad_request(INVALID_REQUEST)),
    "method a number": Case(message(id=1, method=42), bad_request(INVALID_REQUEST)),
    "method null": Case(message(id=1, method=None), bad_request(INVALID_REQUEST)),
    "id true": Case(message(id=True, method="ping"), bad_request(INVALID_REQUEST)),
    "id a float": Case(message(id=1.5, method="ping"), bad_request(INVALID_REQUEST)),
    "id an object": Case(message(id={"n": 1}, method="ping"), bad_request(INVALID_REQUEST)),
    "id an array": Case(message(id=[1], method="ping"), bad_request(INVALID_REQUEST)),
    "id null": Case(message(id=None, method="ping"), bad_request(INVALID_REQUEST)),
    "params an array": Case(request("ping", [1, 2]), bad_request(INVALID_REQUEST)),
    "params a string": Case(request("ping", "x"), bad_request(INVALID_REQUEST)),
    "params null": Case(message(id=1, method="ping", params=None), bad_request(INVALID_REQUEST)),
    "notification with params a string": Case(
        message(method="notifications/cancelled", params="x"), bad_request(INVALID_REQUEST)
    ),
    "initialize as a notification": Case(
        message(method="initialize", params={"protocolVersion": "2025-11-25"}), bad_request(INVALID_REQUEST)
    ),
    "response with an error that is not an object": Case(
        message(id=77, error="boom"),
        bad_request(INVALID_REQUEST),
    ),
    "unsupported MCP-Protocol-Version": Case(PING, bad_request(), {"mcp-protocol-version": "1999-01-01"}),
    # -32601: a well-formed request for a method nobody serves.
    "unknown method": Case(request("no/such/method"), answered_with(METHOD_NOT_FOUND)),
    "method with a NUL": Case(request("ping\u0000"), answered_with(METHOD_NOT_FOUND)),
    # -32602: the method exists, its params do not fit its schema.
    "tools/call without params": Case(request("tools/call"), answered_with(INVALID_PARAMS)),
    "tools/call without a name": Case(
        request("tools/call", {"arguments": {}}), answered_with(INVALID_PARAMS)
    ),
    "tools/call with a numeric name": Case(
        request("tools/call", {"name": 42}), answered_with(INVALID_PARAMS)
    ),
    "tools/call with arguments an array": Case(
        request("tools/call", {"name": "alpha__echo", "arguments": [1]}), answered_with(INVALID_PARAMS)
    ),
    "tools/call with arguments a string": Case(
        request("tools/call", {"name": "alpha__echo", "arguments": "x"}), answered_with(INVALID_PARAMS)
    ),
    "tools/call with arguments null": Case(
        request("tools/call", {"name": "alpha__echo", "arguments": None}), answered_with(INVALID_PARAMS)
    ),
    "tools/call of an unknown tool": Case(
        request("tools/call", {"name": "alpha__nope", "arguments": {}}), answered_with(INVALID_PARAMS)
    ),
    "initialize without params": Case(request("initialize"), answered_with(INVALID_PARAMS)),
    "initialize with a numeric protocolVersion": Case(
        request(
            "initialize",
            {"protocolVersion": 42, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
        ),
        answered_with(INVALID_PARAMS),
    ),
    # Size: the configured bound holds, whether or not the client says the length up front.
    "just under the size limit": Case(echo("x" * (LIMIT - 200)), Reply((200,), "result")),
    "over the size limit": Case(echo("x" * LIMIT), Reply((413,))),
    "over the size limit, chunked": Case(
        [echo("x" * 1000)[:-4]] + [b"x" * 1024] * 16 + [b'"}}}'], Reply((413,))
    ),
    # Deep but parseable JSON, which the gateway must read, forward or reject, never choke on.
    "deeply nested tool arguments": Case(
        f'{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"alpha__echo","arguments":{{"text":{nested(300)}}}}}}}'.encode(),
        Reply((200, 400), "either"),
    ),
    "deeply nested id": Case(
        f'{{"jsonrpc":"2.0","id":{nested(300)},"method":"ping"}}'.encode(), bad_request(INVALID_REQUEST)
    ),
    "lone surrogate in the method": Case(
        b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
        Reply((200, 400), "error", (PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND)),
    ),
    # Headers.
    "Content-Type text/plain": Case(
        PING, Reply((415,), "error", (INVALID_REQUEST,)), {"content-type": "text/plain"}
    ),
    "no Content-Type": Case(PING, Reply((415,), "error", (INVALID_REQUEST,)), {"content-type": None}),
    "Accept without JSON or SSE": Case(
        PING, Reply((406,), "error", (INVALID_REQUEST,)), {"accept": "text/html"}
    ),
}


def _params() -> list:
    return [pytest.param(name, id=name) for name in CASES]


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return {"SWITCHBOARD_MAX_MESSAGE_BYTES": str(LIMIT)}


@pytest.fixture(scope="module")
def session(gateway: GatewayProcess, token: str, server_id: str) -> McpHttp:
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", token)
    client.initialize()
    return client


def send(session: McpHttp, body: bytes | list[bytes], headers: dict[str, str | None]) -> httpx.Response:
    merged: dict[str, str] = session.headers()
    for key, value in headers.items():
        merged.pop(key, None)
        if value is not None:
            merged[key] = value
    content = body if isinstance(body, bytes) else _chunks(body)
    return httpx.post(session.url, content=content, headers=merged, timeout=30)


def _chunks(parts: list[bytes]) -> Iterator[bytes]:
    yield from parts


@pytest.mark.parametrize("name", _params())
def test_malformed_message_gets_the_answer_the_spec_names(name: str, session: McpHttp) -> None:
    case = CASES[name]
    response = send(session, case.body, case.headers)

    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.status_code in case.reply.status, response.text[:300]
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    reply = response.json()
    assert reply.get("jsonrpc") == "2.0", reply
    if case.reply.kind == "result":
        assert "result" in reply, reply
    elif case.reply.kind == "error":
        error = reply.get("error")
        assert isinstance(error, dict) and isinstance(error.get("message"), str), reply
        assert isinstance(error.get("code"), int), reply
        if case.reply.codes:
            assert error["code"] in case.reply.codes, reply
    else:
        assert ("result" in reply) != ("error" in reply), reply


INVALID_IDS = {
    "true": "true",
    "a float": "1.5",
    "an object": '{"n":1}',
    "an array": "[1]",
}


@pytest.mark.parametrize("raw_id", INVALID_IDS.values(), ids=INVALID_IDS.keys())
def test_an_id_that_cannot_be_read_is_not_echoed(raw_id: str, session: McpHttp) -> None:
    response = send(session, f'{{"jsonrpc":"2.0","id":{raw_id},"method":"ping"}}'.encode(), {})
    assert response.status_code == 400
    reply = response.json()
    assert reply["error"]["code"] == INVALID_REQUEST
    assert reply.get("id") is None, reply


def test_the_gateway_still_serves_after_the_malformed_messages(
    gateway: GatewayProcess, session: McpHttp
) -> None:
    assert gateway.process.poll() is None, gateway.log()
    assert (
        session.call_tool("alpha__echo", {"text": "still here"})["result"]["content"][0]["text"]
        == "still here"
    )
    assert httpx.get(f"{gateway.base_url}/healthz", timeout=5).status_code == 200
