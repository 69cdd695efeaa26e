"""A log line joins its trace: with tracing on, the access line of a tools/call carries
the trace and span ids of the proxy's server span, which the trace backend received."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

pytestmark = pytest.mark.e2e


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver keeping (trace id, span id, name) of every span."""

    def __init__(self) -> None:
        self.spans: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    self.spans |= {(s.trace_id.hex(), s.span_id.hex(), s.name) for s in scope_spans.spans}
        return trace_service_pb2.ExportTraceServiceResponse()

    def has(self, trace_id: str, span_id: str) -> str | None:
        with self._lock:
            return next((name for t, s, name in self.spans if (t, s) == (trace_id, span_id)), None)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(None)


def test_the_access_line_of_a_tools_call_names_the_span_the_backend_received(
    receiver: tuple[Receiver, int],
) -> None:
    servicer, port = receiver
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "SWITCHBOARD_ACCESS_LOG": "true",
        "SWITCHBOARD_LOG_FORMAT": "json",
    }
    with start_upstream(name="joined") as upstream, start_gateway(env, separate_stderr=True) as gateway:
        token = gateway.mint_token()
        with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}) as admin:
            register(admin, "joined", upstream.url)
        client = McpHttp(f"{gateway.base_url}/mcp", token)
        client.initialize()
        called = client.post(
            {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "joined__echo", "arguments": {}},
            },
            **{"x-request-id": "joined-call-1"},
        )
        assert called.status_code == 200, called.text

        def access_line() -> dict | None:
            for line in gateway.stderr_lines():
                event = orjson.loads(line)
                if event["logger"] == "switchboard.access" and event["request_id"] == "joined-call-1":
                    return event
            return None

        line = eventually(access_line, what="the call's access line")
        assert line["route"] == "/mcp" and line["trace_id"] and line["span_id"]
        name = eventually(
            lambda: servicer.has(line["trace_id"], line["span_id"]),
            timeout_s=15,
            what="the line's span exported",
        )
        assert name == "POST /mcp"
