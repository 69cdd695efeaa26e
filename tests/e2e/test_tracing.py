"""W3C trace context flows proxy → auth/registry → upstream → metrics, exported over OTLP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver keeping (trace id, span name) pairs."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((s.trace_id.hex(), s.name) for s in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def names_in(self, trace_id: str) -> set[str]:
        with self._lock:
            return {name for tid, name in self.spans if tid == trace_id}


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(None)


def test_one_tools_call_is_one_trace_across_services(collector: tuple[Collector, int]) -> None:
    servicer, port = collector
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with start_upstream(name="traced") as upstream, start_gateway(env) as gateway:
        token = gateway.mint_token()
        with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}) as admin:
            register(admin, "traced", upstream.url)
            server = create_server(admin, "traced", ["traced__headers"])
        client = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", token)
        client.initialize()
        # A token the proxy has never seen: its verification is part of this trace.
        client._auth = {"authorization": f"Bearer {gateway.mint_token()}"}
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        response = client.post(
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "traced__headers", "arguments": {}},
            },
            traceparent=f"00-{trace_id}-00f067aa0ba902b7-01",
        )
        seen = str(response.json()["result"])
        assert trace_id in seen, "the upstream did not receive the trace context"

        wanted = {"tools/call", "/switchboard.auth.v1.AuthService/Authenticate", "metrics.record"}
        eventually(
            lambda: wanted <= servicer.names_in(trace_id), timeout_s=15, what=f"spans {wanted} in one trace"
        )
