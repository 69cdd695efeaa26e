"""JSON-RPC 2.0 envelopes as plain dicts: the gateway parses a message once (orjson)
and validates only the envelope and the fields it acts on."""

from __future__ import annotations

from typing import Any

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

Id = str | int | None


def error(id_: Id, code: int, message: str, data: Any = None) -> dict:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def result(id_: Id, value: Any) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "result": value}


def request(id_: Id, method: str, params: dict | None = None) -> dict:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: dict | None = None) -> dict:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def dumps(message: Any) -> bytes:
    return orjson.dumps(message)


def is_request(msg: dict) -> bool:
    return "method" in msg and "id" in msg


def is_notification(msg: dict) -> bool:
    return "method" in msg and "id" not in msg


def is_response(msg: dict) -> bool:
    return "method" not in msg and ("result" in msg or "error" in msg)


def envelope_problem(msg: Any) -> str | None:
    """Why `msg` is not a valid JSON-RPC 2.0 message, or None when it is."""
    if not isinstance(msg, dict):
        return "a JSON-RPC message must be an object"
    if msg.get("jsonrpc") != "2.0":
        return "jsonrpc must be '2.0'"
    if "method" in msg:
        if not isinstance(msg["method"], str):
            return "method must be a string"
        if "id" in msg and (not isinstance(msg["id"], (str, int)) or isinstance(msg["id"], bool)):
            return "id must be a string or an integer"
        if "params" in msg and not isinstance(msg["params"], dict):
            return "params must be an object"
        return None
    if "error" in msg:
        error = msg["error"]
        if (
            not isinstance(error, dict)
            or not isinstance(error.get("code"), int)
            or not isinstance(error.get("message"), str)
        ):
            return "error must be an object with an integer code and a string message"
        return None
    if "result" in msg:
        return None
    return "a message needs a method, a result or an error"


def readable_id(msg: Any) -> Id:
    """The id to answer a message with: its own when it is a string or an integer,
    else null (JSON-RPC: the id could not be read)."""
    id_ = msg.get("id") if isinstance(msg, dict) else None
    return id_ if isinstance(id_, (str, int)) and not isinstance(id_, bool) else None
