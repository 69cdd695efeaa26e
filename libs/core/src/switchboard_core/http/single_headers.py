"""One reading of each request: the headers a decision rests on may appear only once.

Readers disagree on a repeated header (Starlette's `request.headers.get` takes the first
copy, a `dict` built from the raw list the last), so two `Authorization` headers could be
one caller to a REST route and another to an MCP endpoint. Rather than make every reader
agree, a request repeating any of `SINGLE_HEADERS` is refused before any route reads it:
HTTP 400 on every face (RFC 6750 §3.1 names a repeated parameter an `invalid_request`),
with a JSON-RPC error body on the MCP endpoints and the REST error body elsewhere.
`RawRoutesFirst` applies it to every request of every process.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

_name = itemgetter(0)
_INVALID_REQUEST = -32600
# The stateless revision's (2026-07-28) own code for a routing header sent twice, as the
# official SDK answers it.
_HEADER_MISMATCH = -32020

# Each header that must be single, with the JSON-RPC code an MCP endpoint refuses its repetition with.
SINGLE_HEADERS: dict[bytes, int] = {
    b"authorization": _INVALID_REQUEST,
    b"host": _INVALID_REQUEST,
    b"origin": _INVALID_REQUEST,
    b"content-type": _INVALID_REQUEST,
    b"content-length": _INVALID_REQUEST,
    b"mcp-session-id": _INVALID_REQUEST,
    b"last-event-id": _INVALID_REQUEST,
    b"mcp-protocol-version": _HEADER_MISMATCH,
    b"mcp-method": _HEADER_MISMATCH,
    b"mcp-name": _HEADER_MISMATCH,
    # Who the client is (address limits) and which URL it used (challenges), from a trusted proxy.
    b"x-forwarded-for": _INVALID_REQUEST,
    b"x-forwarded-host": _INVALID_REQUEST,
    b"x-forwarded-proto": _INVALID_REQUEST,
    b"x-forwarded-port": _INVALID_REQUEST,
}


def repeated_header(raw_headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The first of `SINGLE_HEADERS` the request sends twice (ASGI names are lower case)."""
    if len(set(map(_name, raw_headers))) == len(raw_headers):
        return None  # no name repeats (nearly every request): one pass in C
    seen: set[bytes] = set()
    for name, _ in raw_headers:
        if name in SINGLE_HEADERS:
            if name in seen:
                return name
            seen.add(name)
    return None
