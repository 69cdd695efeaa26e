"""The internal gRPC APIs answer only the deployment's own services.

Reached from outside, without the internal token or with another, the catalog, the
token check, the audit intake and metrics ingest are UNAUTHENTICATED; health stays open.
A service whose peers run elsewhere will not start without a token."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.internal_token import METADATA_KEY
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.internal import INTERNAL_TOKEN


def internal_calls(channel: grpc.Channel):
    """One call to each internal API, as something that is no Switchboard service would make."""
    return {
        "GetCatalog": lambda md: registry_pb2_grpc.RegistryServiceStub(channel).GetCatalog(
            registry_pb2.GetCatalogRequest(), timeout=5, metadata=md
        ),
        "GetAccessIndex": lambda md: registry_pb2_grpc.RegistryServiceStub(channel).GetAccessIndex(
            registry_pb2.GetAccessIndexRequest(), timeout=5, metadata=md
        ),
        "WatchCatalog": lambda md: next(
            registry_pb2_grpc.RegistryServiceStub(channel).WatchCatalog(
                registry_pb2.WatchCatalogRequest(), timeout=5, metadata=md
            )
        ),
        "Authenticate": lambda md: auth_pb2_grpc.AuthServiceStub(channel).Authenticate(
            auth_pb2.AuthenticateRequest(token="x"), timeout=5, metadata=md
        ),
        "RecordAudit": lambda md: auth_pb2_grpc.AuthServiceStub(channel).RecordAudit(
            auth_pb2.RecordAuditRequest(), timeout=5, metadata=md
        ),
        "Ingest": lambda md: metrics_pb2_grpc.MetricsServiceStub(channel).Ingest(
            iter([metrics_pb2.InvocationBatch()]), timeout=5, metadata=md
        ),
    }


@pytest.mark.parametrize(
    "sent",
    [(), ((METADATA_KEY, INTERNAL_TOKEN),), ((METADATA_KEY, ""),)],
    ids=["no-token", "another-deployments-token", "empty-token"],
)
def test_an_outsider_gets_nothing_from_the_internal_apis(gateway: GatewayProcess, sent) -> None:
    # The embedded gateway made a token of its own; the tests' token is not it.
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        for name, call in internal_calls(channel).items():
            with pytest.raises(grpc.RpcError) as refused:
                call(sent)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            assert "SWITCHBOARD_INTERNAL_TOKEN" in refused.value.details(), name


def test_health_stays_open_to_probes(gateway: GatewayProcess) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_the_gateway_itself_still_reaches_its_internal_apis(gateway: GatewayProcess) -> None:
    # Minting a token logs in (auth) and listing tools reads the catalog (registry), both
    # through the process's own gRPC calls, which carry the token it made.
    token = gateway.mint_token()
    listing = httpx.post(
        f"{gateway.base_url}/rpc",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert listing.status_code == 200
    assert "result" in listing.json(), listing.json()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SWITCHBOARD_AUTH_ADDR": "127.0.0.1:1"}, "SWITCHBOARD_INTERNAL_TOKEN is not set"),
        ({"SWITCHBOARD_REDIS_URL": "redis://127.0.0.1:1/0"}, "SWITCHBOARD_INTERNAL_TOKEN is not set"),
        ({"SWITCHBOARD_INTERNAL_TOKEN": "short"}, "needs at least 32 characters"),
    ],
    ids=["peer-elsewhere", "replicas-sharing-redis", "too-short"],
)
def test_a_service_running_apart_will_not_start_without_a_token(tmp_path, env, says) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", "serve", "registry"],
        env={**clean, "SWITCHBOARD_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert says in done.stderr
    assert "Traceback" not in done.stderr
