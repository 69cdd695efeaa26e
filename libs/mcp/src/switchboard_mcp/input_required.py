"""Multi-round-trip requests of the stateless revision (2026-07-28), both ways.

A server that needs the client's input mid-request (sampling, elicitation, roots)
answers `{"resultType": "input_required", "inputRequests": {key: request},
"requestState": opaque}`; the client fulfils the requests and sends the original
request again with `inputResponses` (keyed alike) and the `requestState` echoed.
"""

from __future__ import annotations

from typing import Any

# Rounds of one request before giving up (the SDKs' default).
MAX_ROUNDS = 10
KIND = "input_required"


def result(requests: dict[str, dict], state: str | None) -> dict:
    """An `input_required` result asking `requests` (key -> {method, params})."""
    shaped: dict[str, Any] = {"resultType": KIND, "inputRequests": requests}
    if state is not None:
        shaped["requestState"] = state
    return shaped


def asked(final: dict | None) -> tuple[dict, Any] | None:
    """The requests and state of an `input_required` answer, or None for any other answer.
    A malformed one is None too (it then fails as a result of an unknown kind)."""
    result = final.get("result") if final else None
    if not isinstance(result, dict) or result.get("resultType") != KIND:
        return None
    requests = result.get("inputRequests") or {}
    if not isinstance(requests, dict) or not all(
        isinstance(r, dict) and isinstance(r.get("method"), str) for r in requests.values()
    ):
        return None
    if not requests and result.get("requestState") is None:
        return None
    return requests, result.get("requestState")


def retry_params(params: dict | None, answers: dict | None, state: Any) -> dict:
    retried = {k: v for k, v in (params or {}).items() if k not in ("inputResponses", "requestState")}
    if answers:
        retried["inputResponses"] = answers
    if state is not None:
        retried["requestState"] = state
    return retried
