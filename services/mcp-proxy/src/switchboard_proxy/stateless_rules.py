"""The rules of the stateless MCP revision (2026-07-28), as pure functions.

Inbound: the validation ladder every request goes through before it is served
(`params._meta` envelope, then the `MCP-Protocol-Version` / `Mcp-Method` /
`Mcp-Name` headers against the body, then the version), with the error codes and
HTTP statuses the official SDK uses (`mcp.shared.inbound`). Outbound: what a
2025-era answer needs to be a 2026-07-28 result (`resultType`, cache hints, the
`serverInfo` stamp). No I/O, no transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard_mcp import input_required, jsonrpc, versions
from switchboard_mcp.stateless_wire import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    METHOD_HEADER,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    NAME_BEARING_METHODS,
    NAME_HEADER,
    PROTOCOL_VERSION_HEADER,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    decode_header_value,
)

# Request `_meta` keys that describe this hop only; an upstream (spoken to at
# 2025-11-25) must not see them, or a dual-era upstream would take the request as 2026.
# The log level stays: an upstream of the revision sends log messages only when asked.
_ENVELOPE_KEYS = (
    PROTOCOL_VERSION_META_KEY,
    CLIENT_INFO_META_KEY,
    CLIENT_CAPABILITIES_META_KEY,
)


# JSON-RPC error code -> HTTP status (the SDK's ERROR_CODE_HTTP_STATUS); others are 200.
HTTP_STATUS = {
    jsonrpc.PARSE_ERROR: 400,
    jsonrpc.INVALID_REQUEST: 400,
    jsonrpc.INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    jsonrpc.METHOD_NOT_FOUND: 404,
}

# Client requests defined at 2026-07-28 (ping, logging/setLevel and the
# resources/(un)subscribe pair are gone; discover and listen are new).
METHODS = frozenset(
    {
        "server/discover",
        "subscriptions/listen",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "completion/complete",
    }
)
# Results that carry `ttlMs` / `cacheScope` at 2026-07-28.
CACHEABLE_METHODS = frozenset(
    {
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    }
)
# Lists follow the registry and can change at any moment (announced on listen
# streams), and what a caller may see depends on who calls: never reuse across tokens.
CACHE_HINTS = {"ttlMs": 0, "cacheScope": "private"}


@dataclass(frozen=True, slots=True)
class Envelope:
    """A request that passed the ladder."""

    protocol_version: str
    client_info: Any
    client_capabilities: Any


@dataclass(frozen=True, slots=True)
class Rejection:
    code: int
    message: str
    data: Any = None

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 200)

    def reply(self, id_: jsonrpc.Id) -> dict:
        return jsonrpc.error(id_, self.code, self.message, self.data)


def http_status(answer: dict) -> int:
    error = answer.get("error")
    return HTTP_STATUS.get(error.get("code"), 200) if isinstance(error, dict) else 200


def is_stateless_body(msg: dict) -> bool:
    """Whether a body carries the 2026 envelope (the version key alone is the signal)."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta


def unsupported_version(requested: Any) -> Rejection | None:
    if requested in versions.STATELESS:
        return None
    return Rejection(
        UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        {
            "supported": list(versions.ADVERTISED),
            "requested": requested if isinstance(requested, str) else "",
        },
    )


def classify(msg: dict, headers: Mapping[str, str]) -> Envelope | Rejection:
    """The ladder, first failure wins: envelope present, headers agree with the body,
    version served. Method existence is the dispatcher's to decide."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return Rejection(
            jsonrpc.INVALID_PARAMS,
            f"params._meta must be an object carrying the required {PROTOCOL_VERSION_META_KEY!r} "
            f"and {CLIENT_CAPABILITIES_META_KEY!r} envelope keys",
        )
    missing = [key for key in (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY) if key not in meta]
    if missing:
        return Rejection(
            jsonrpc.INVALID_PARAMS,
            f"params._meta is missing the required envelope key(s): {', '.join(missing)}",
        )
    version = meta[PROTOCOL_VERSION_META_KEY]
    version_header = headers.get(PROTOCOL_VERSION_HEADER)
    if version_header is None or version_header != version:
        return Rejection(
            HEADER_MISMATCH,
            f"{PROTOCOL_VERSION_HEADER} header does not match the request envelope's protocol version",
        )
    method = msg.get("method")
    if headers.get(METHOD_HEADER) != method:
        return Rejection(HEADER_MISMATCH, f"{METHOD_HEADER} header does not match the request body's method")
    name_key = NAME_BEARING_METHODS.get(method)
    if name_key is not None:
        body_value = params.get(name_key)
        if body_value is not None and decode_header_value(headers.get(NAME_HEADER)) != body_value:
            return Rejection(
                HEADER_MISMATCH,
                f"{NAME_HEADER} header does not match the request body's {name_key!r} parameter",
            )
    if not isinstance(version, str):
        return Rejection(jsonrpc.INVALID_PARAMS, "the protocol-version envelope value must be a string")
    rejection = unsupported_version(version)
    if rejection is not None:
        return rejection
    return Envelope(version, meta.get(CLIENT_INFO_META_KEY), meta[CLIENT_CAPABILITIES_META_KEY])


def for_upstream(msg: dict) -> dict:
    """The request without this hop's envelope keys (a progress token and other
    `_meta` entries stay)."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return msg
    rest = {key: value for key, value in meta.items() if key not in _ENVELOPE_KEYS}
    params = {key: value for key, value in params.items() if key != "_meta"}
    if rest:
        params["_meta"] = rest
    return {**msg, "params": params}


def as_stateless_result(method: str, result: Any, server_info: dict) -> Any:
    """A 2025-era result shaped for 2026-07-28: `resultType` (required), cache hints
    on cacheable methods, and the gateway's `serverInfo` stamp."""
    if not isinstance(result, dict):
        return result
    cacheable = method in CACHEABLE_METHODS and result.get("resultType") != input_required.KIND
    shaped = {**CACHE_HINTS, **result} if cacheable else dict(result)
    shaped.setdefault("resultType", "complete")
    meta = shaped.get("_meta")
    if meta is None:
        shaped["_meta"] = {SERVER_INFO_META_KEY: server_info}
    elif isinstance(meta, dict) and meta.get(SERVER_INFO_META_KEY) is None:
        shaped["_meta"] = {**meta, SERVER_INFO_META_KEY: server_info}
    return shaped


def as_stateless_reply(method: str, answer: dict, server_info: dict) -> dict:
    if "result" not in answer:
        return answer
    return {**answer, "result": as_stateless_result(method, answer["result"], server_info)}
