"""A user's session limit holds across mcp-proxy replicas sharing Redis: sessions opened
on either replica count against one limit, one deleted on one replica frees a place on
the other, and another user's sessions are counted apart."""

from __future__ import annotations

import httpx
import orjson
import pytest
from switchboard_testing import people
from switchboard_testing.mcp_http import session_headers
from switchboard_testing.stack import StackProcess

LIMIT = 2


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2, "env": {"SWITCHBOARD_MAX_SESSIONS_PER_USER": str(LIMIT)}}


def _initialize(replica: str, token: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
    }
    return httpx.post(
        f"{replica}/mcp", content=orjson.dumps(body), headers=session_headers(token), timeout=30
    )


def test_a_users_sessions_on_every_replica_count_against_one_limit(stack: StackProcess) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    token = stack.login()
    opened = [_initialize(first, token), _initialize(second, token)]
    assert [r.status_code for r in opened] == [200, 200], [r.text for r in opened]

    for replica in (first, second):
        refused = _initialize(replica, token)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"]["code"] == -32029

    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        people.create_user(admin, "other@example.com")
    other = stack.login("other@example.com", people.PASSWORD)
    assert _initialize(second, other).status_code == 200, "another user is counted apart"

    session_id = opened[0].headers["mcp-session-id"]
    deleted = httpx.delete(f"{first}/mcp", headers=session_headers(token, session_id), timeout=30)
    assert deleted.status_code == 204
    assert _initialize(second, token).status_code == 200
