"""Reading a stateless-revision (2026-07-28) upstream's answers as the rest of the
gateway speaks them (2025-11-25): pure functions, no I/O."""

from __future__ import annotations

from typing import Any

import aiohttp

from switchboard_mcp import jsonrpc, versions
from switchboard_mcp.stateless_wire import SERVER_INFO_META_KEY, SUBSCRIPTION_ID_META_KEY

# Result fields that describe the 2026 hop, not the answer.
_HOP_RESULT_FIELDS = ("ttlMs", "cacheScope")


def as_session_era(message: dict) -> dict:
    """A 2026-07-28 response read as a 2025-11-25 one: the per-hop fields dropped; a
    result of a kind that has no 2025 form (input_required outside a call's stream,
    an extension's) turned into an error."""
    result = message.get("result")
    if not isinstance(result, dict):
        return message
    kind = result.get("resultType", "complete")
    if kind != "complete":
        return jsonrpc.error(
            message.get("id"),
            jsonrpc.INTERNAL_ERROR,
            f"the upstream answered with a {kind!r} result, which the gateway cannot relay",
        )
    shaped = {k: v for k, v in result.items() if k != "resultType" and k not in _HOP_RESULT_FIELDS}
    meta = shaped.get("_meta")
    if isinstance(meta, dict) and SERVER_INFO_META_KEY in meta:
        rest = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
        if rest:
            shaped["_meta"] = rest
        else:
            del shaped["_meta"]
    return {**message, "result": shaped}


def session_era_capabilities(capabilities: Any) -> dict[str, Any]:
    """The upstream's capabilities as a 2025 server states them: no `logging` (log
    messages are asked per request at this revision); `resources.subscribe` stays,
    served over the listen stream."""
    if not isinstance(capabilities, dict):
        return {}
    return {k: v for k, v in capabilities.items() if k != "logging"}


def mutual(supported: Any) -> str | None:
    """The newest stateless version of ours that `supported` names."""
    if not isinstance(supported, list):
        return None
    return next((v for v in versions.STATELESS if v in supported), None)


def is_sse(response: aiohttp.ClientResponse) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def without_subscription_id(message: dict) -> dict:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) or SUBSCRIPTION_ID_META_KEY not in meta:
        return message
    rest = {k: v for k, v in meta.items() if k != SUBSCRIPTION_ID_META_KEY}
    params = {k: v for k, v in params.items() if k != "_meta"}
    if rest:
        params["_meta"] = rest
    shaped = {k: v for k, v in message.items() if k != "params"}
    if params:
        shaped["params"] = params
    return shaped
