"""Through nginx in the distributed stack, a request is one trace found by the
X-Request-Id nginx answered with: an admin write's REST span in the registry, the INSERT
it made through PgBouncer, its Authenticate call into auth; a tools/call's MCP span in a
proxy replica and the Redis commands its session made."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.otlp_receiver import ReceivedSpan, Receiver, receiving_traces
from switchboard_testing.readiness import eventually
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import start_upstream

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving_traces() as running:
        yield running


@pytest.fixture(scope="module")
def stack_options(receiver: Receiver) -> dict:
    return {"proxy_replicas": 1, "env": receiver.env}


def test_an_admin_write_through_nginx_is_followed_from_its_request_id_to_its_insert(
    stack: StackProcess, receiver: Receiver
) -> None:
    token = stack.login()
    with start_upstream(name="followed") as upstream:
        with httpx.Client(
            base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as admin:
            response = admin.post("/gateways", json={"name": "followed", "url": upstream.url})
        assert response.status_code == 201, response.text
        request_id = response.headers["x-request-id"]

        [http] = eventually(
            lambda: receiver.with_attribute("switchboard.request_id", request_id),
            timeout_s=20,
            what="the registry's REST span carrying nginx's request id",
        )
        assert (http.name, http.kind, http.service) == ("POST /gateways", SERVER, "switchboard-registry")
        assert http.attributes["http.response.status_code"] == 201

        def inserts() -> list[ReceivedSpan]:
            return [
                span
                for span in receiver.in_trace(http.trace_id)
                if span.name == "INSERT" and "INSERT INTO gateways" in span.attributes["db.statement"]
            ]

        [insert] = eventually(inserts, timeout_s=20, what="the INSERT of the gateway in the same trace")
        assert insert.kind == CLIENT and insert.service == "switchboard-registry"
        assert insert.attributes["db.system"] == "postgresql"
        assert upstream.url not in insert.attributes["db.statement"]
        # One server span for the request: FastAPI's own is off, ours carries the request id.
        assert [s.name for s in receiver.in_trace(http.trace_id)].count("POST /gateways") == 1

        # The token was new to the registry: it asked auth over gRPC, a hop of the same trace.
        def authenticate_hop() -> bool:
            spans = receiver.in_trace(http.trace_id)
            calls = {
                s.span_id: s
                for s in spans
                if s.kind == CLIENT
                and s.name.endswith("/Authenticate")
                and s.service == "switchboard-registry"
            }
            return any(
                s.kind == SERVER and s.service == "switchboard-auth" and s.parent_id in calls for s in spans
            )

        eventually(
            authenticate_hop, timeout_s=20, what="registry's Authenticate call and auth's span under it"
        )


def test_a_session_opened_through_nginx_shows_its_redis_commands_by_name_only(
    stack: StackProcess, receiver: Receiver
) -> None:
    token = stack.login()
    with start_upstream(name="sessions") as upstream:
        with httpx.Client(
            base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as admin:
            register(admin, "sessions", upstream.url)
            server = create_server(admin, "sessions", ["sessions__echo"])
        client = McpHttp(f"{stack.url}/servers/{server}/mcp", token)
        response = client.post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            }
        )
        assert response.status_code == 200, response.text
        request_id, session_id = response.headers["x-request-id"], response.headers["mcp-session-id"]

        [mcp] = eventually(
            lambda: receiver.with_attribute("switchboard.request_id", request_id),
            timeout_s=20,
            what="the proxy's MCP span carrying nginx's request id",
        )
        assert (mcp.name, mcp.service) == ("POST /servers/{server_id}/mcp", "switchboard-mcp-proxy")

        # The session is stored in Redis (shared by the replicas), within this trace.
        commands = [s for s in receiver.in_trace(mcp.trace_id) if s.attributes.get("db.system") == "redis"]
        assert commands, [s.name for s in receiver.in_trace(mcp.trace_id)]
        for span in commands:
            assert span.kind == CLIENT and span.service == "switchboard-mcp-proxy"
            assert span.name == span.attributes["db.operation"] and span.name.isupper()
            # Keys name the session: never in a span.
            assert session_id not in str(span.attributes)
