"""Through nginx, one request is one id everywhere: the `X-Request-ID` nginx makes is the
one the client gets back, the one the service's JSON log line carries, and the one in
nginx's own access log. Each replica logs JSON lines naming itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import orjson
import pytest
from switchboard_testing.readiness import eventually
from switchboard_testing.stack import StackProcess

NGINX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 1, "sqlite": True, "env": {"SWITCHBOARD_ACCESS_LOG": "true"}}


@pytest.fixture(scope="module")
def client(stack: StackProcess) -> Iterator[httpx.Client]:
    token = stack.login()
    with httpx.Client(
        base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30, trust_env=False
    ) as c:
        yield c


def events(stack: StackProcess, replica: str) -> list[dict]:
    """The JSON events of a replica's log (its output holds nothing else)."""
    return [orjson.loads(line) for line in stack.log_of(replica).splitlines() if line.strip()]


def logged_under(stack: StackProcess, replica: str, rid: str) -> dict | None:
    lines = [
        e for e in events(stack, replica) if e["request_id"] == rid and e["logger"] == "switchboard.access"
    ]
    return lines[0] if lines else None


def test_the_id_nginx_makes_is_returned_and_on_the_services_log_line(
    stack: StackProcess, client: httpx.Client
) -> None:
    answer = client.get("/auth/me")
    assert answer.status_code == 200
    rid = answer.headers["x-request-id"]
    assert NGINX_ID.fullmatch(rid), rid
    line = eventually(lambda: logged_under(stack, "auth-1", rid), what="auth's access line for the request")
    assert line["route"] == "/auth/me" and line["status"] == 200 and line["method"] == "GET"
    assert line["service"] == "auth" and line["replica"] == "auth-1"
    assert line["client"] == "127.0.0.1"  # the client's address, read from nginx's X-Forwarded-For
    nginx_log = stack.dir / "nginx" / "logs" / "access.log"
    eventually(lambda: f"id={rid}" in nginx_log.read_text(), what="the id in nginx's access log")


def test_an_mcp_request_is_logged_by_the_proxy_under_nginxs_id(
    stack: StackProcess, client: httpx.Client
) -> None:
    answer = client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert answer.status_code == 200, answer.text
    rid = answer.headers["x-request-id"]
    line = eventually(lambda: logged_under(stack, "mcp-proxy-1", rid), what="the proxy's access line")
    assert line["route"] == "/rpc" and line["replica"] == "mcp-proxy-1"


def test_an_id_a_client_sends_is_replaced_by_nginxs_own(stack: StackProcess, client: httpx.Client) -> None:
    answer = client.get("/auth/me", headers={"x-request-id": "chosen-by-the-client"})
    rid = answer.headers["x-request-id"]
    assert rid != "chosen-by-the-client" and NGINX_ID.fullmatch(rid)
    eventually(lambda: logged_under(stack, "auth-1", rid), what="auth's access line under nginx's id")
    assert not any(e["request_id"] == "chosen-by-the-client" for e in events(stack, "auth-1"))


def test_every_line_a_replica_writes_is_a_json_event_naming_it(
    stack: StackProcess, client: httpx.Client
) -> None:
    client.get("/gateways")
    for replica, service in [("auth-1", "auth"), ("registry-1", "registry"), ("mcp-proxy-1", "mcp-proxy")]:
        lines = events(stack, replica)
        assert lines and all(e["replica"] == replica and e["service"] == service for e in lines)
