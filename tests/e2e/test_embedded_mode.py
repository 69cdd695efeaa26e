"""`switchboard up`: one process, one HTTP port, one gRPC port, clean shutdown."""

from __future__ import annotations

import signal

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from switchboard_testing.gateway_process import GatewayProcess, start_gateway


def test_banner_tells_a_new_user_where_everything_is(gateway: GatewayProcess) -> None:
    log = gateway.log()
    assert f"{gateway.base_url}/mcp" in log
    assert f"{gateway.base_url}/docs" in log
    assert "switchboard token create" in log


def test_one_grpc_port_hosts_every_service(gateway: GatewayProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in (
            "switchboard.auth.v1.AuthService",
            "switchboard.registry.v1.RegistryService",
            "switchboard.metrics.v1.MetricsService",
            "switchboard.proxy.v1.ProxyService",
        ):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_an_embedded_gateway_is_ready_once_it_answers(gateway: GatewayProcess) -> None:
    # Its databases are local SQLite files: nothing to wait for once it started.
    assert httpx.get(f"{gateway.base_url}/readyz").json() == {"status": "ready"}


def test_admin_api_documents_itself(gateway: GatewayProcess) -> None:
    spec = httpx.get(f"{gateway.base_url}/openapi.json").json()
    for path in ("/gateways", "/servers", "/tools", "/metrics/tools", "/auth/login"):
        assert path in spec["paths"], path
    assert httpx.get(f"{gateway.base_url}/docs").status_code == 200


def test_sqlite_files_live_under_the_data_directory(gateway: GatewayProcess) -> None:
    names = {p.name for p in gateway.data_dir.glob("*.db")}
    assert {"auth.db", "registry.db", "metrics.db"} <= names


def test_ctrl_c_stops_the_gateway_cleanly() -> None:
    with start_gateway() as process:
        assert process.stop(signal.SIGINT) == 0
        assert "Traceback" not in process.log()
        assert process.log().rstrip().endswith("Switchboard stopped.")


def test_sigterm_stops_the_gateway_cleanly() -> None:
    with start_gateway() as process:
        assert process.stop(signal.SIGTERM) == 0
        assert "Traceback" not in process.log()
