"""Raw ASGI reading and writing shared by the MCP HTTP endpoints: the body with a
size limit (and a JSON-RPC batch with a length limit), a JSON reply, and the pieces of
an SSE response."""

from __future__ import annotations

import orjson
from switchboard_mcp import jsonrpc

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE_S = 15.0
KEEPALIVE = b": keepalive\n\n"


async def read_body(receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Answered:
    """`read_message` already answered the request (413, or 400 with -32700 or -32600)."""


ANSWERED = Answered()


async def read_message(receive, send, limit: int, max_batch: int) -> object:
    """The parsed JSON body, or ANSWERED after replying 413 (over `limit` bytes), 400
    with -32700 (not JSON), or 400 with -32600 (a batch of none or over `max_batch`
    messages, refused whole before any is looked at) itself."""
    body = await read_body(receive, limit)
    if body is None:
        await reply(send, 413, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, f"Message over {limit} bytes"))
        return ANSWERED
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        await reply(send, 400, jsonrpc.error(None, jsonrpc.PARSE_ERROR, "Parse error"))
        return ANSWERED
    if isinstance(message, list) and not 0 < len(message) <= max_batch:
        problem = f"a batch holds 1 to {max_batch} messages"
        await reply(send, 400, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, problem))
        return ANSWERED
    return message


async def reply(send, status: int, payload: dict | list | None, extra_headers: list | None = None) -> None:
    try:
        body = orjson.dumps(payload) if payload is not None else b""
    except orjson.JSONEncodeError:
        # orjson reads 1024 levels of nesting but writes only 254: an upstream answer can exceed that.
        status, payload = (
            502,
            jsonrpc.error(
                jsonrpc.readable_id(payload), jsonrpc.INTERNAL_ERROR, "answer nests too deeply to relay"
            ),
        )
        body = orjson.dumps(payload)
    headers = list(JSON_HEADERS) if payload is not None else []
    if extra_headers:
        headers.extend(extra_headers)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def wait_for_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
