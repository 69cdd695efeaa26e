"""A request is one trace, found by the request id its response carries (embedded
gateway): an admin write through its REST span to the SQL that stored it, a tools/call
through its MCP span to the upstream request."""

from __future__ import annotations

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.otlp_receiver import ReceivedSpan, receiving_traces
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

SERVER, CLIENT = 2, 3  # OTLP span kinds


def test_a_registered_gateway_is_followed_from_its_request_id_to_its_insert() -> None:
    with receiving_traces() as receiver, start_upstream(name="followed") as upstream:
        with start_gateway(receiver.env) as gateway:
            token = gateway.mint_token()
            with httpx.Client(
                base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}
            ) as admin:
                response = admin.post("/gateways", json={"name": "followed", "url": upstream.url})
            assert response.status_code == 201, response.text
            request_id = response.headers["x-request-id"]

            [http] = eventually(
                lambda: receiver.with_attribute("switchboard.request_id", request_id),
                timeout_s=15,
                what="the REST span carrying the request id",
            )
            assert http.name == "POST /gateways" and http.kind == SERVER
            assert http.attributes["http.route"] == "/gateways"
            assert http.attributes["http.response.status_code"] == 201

            def inserts() -> list[ReceivedSpan]:
                return [
                    span
                    for span in receiver.in_trace(http.trace_id)
                    if span.name == "INSERT" and "INSERT INTO gateways" in span.attributes["db.statement"]
                ]

            [insert] = eventually(inserts, timeout_s=15, what="the INSERT of the gateway in the same trace")
            assert insert.kind == CLIENT and insert.attributes["db.system"] == "sqlite"
            assert upstream.url not in insert.attributes["db.statement"]
            # One server span for the request: FastAPI's own is off, ours carries the request id.
            assert [s.name for s in receiver.in_trace(http.trace_id)].count("POST /gateways") == 1
            # The upstream was asked for its tools within the same trace, over HTTP.
            eventually(
                lambda: any(
                    s.attributes.get("url.full") == upstream.url for s in receiver.in_trace(http.trace_id)
                ),
                timeout_s=15,
                what="the upstream HTTP span in the same trace",
            )


def test_a_tools_call_is_followed_from_its_request_id_to_the_upstream_request() -> None:
    with receiving_traces() as receiver, start_upstream(name="called") as upstream:
        with start_gateway(receiver.env) as gateway:
            token = gateway.mint_token()
            with httpx.Client(
                base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}
            ) as admin:
                register(admin, "called", upstream.url)
                server = create_server(admin, "called", ["called__headers"])
            client = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", token)
            client.initialize()
            call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "called__headers"}}
            response = client.post(call, **{"x-request-id": "followed-call-1"})
            assert response.headers["x-request-id"] == "followed-call-1"

            [mcp] = eventually(
                lambda: receiver.with_attribute("switchboard.request_id", "followed-call-1"),
                timeout_s=15,
                what="the MCP span carrying the request id",
            )
            assert mcp.name == "POST /servers/{server_id}/mcp" and mcp.kind == SERVER

            def upstream_posts() -> list[ReceivedSpan]:
                spans = receiver.in_trace(mcp.trace_id)
                calls = {s.span_id for s in spans if s.name == "tools/call"}
                return [s for s in spans if s.kind == CLIENT and s.name == "POST" and s.parent_id in calls]

            # (The upstream session opens on this first call: initialize, initialized, the call.)
            posts = eventually(upstream_posts, timeout_s=15, what="the upstream requests under tools/call")
            assert {post.attributes["url.full"] for post in posts} == {upstream.url}
            # The upstream received the context of one of those very spans.
            seen = str(response.json()["result"])
            assert any(f"00-{mcp.trace_id}-{post.span_id}-" in seen for post in posts), seen
