"""The gRPC server a process hosts: every service it runs, plus the health service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from switchboard_core.grpc.interceptors import ServerInterceptor
from switchboard_core.grpc.metered import MeteredServer

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How long a gRPC connection may take to shake hands, sit without calls, and live."""

    handshake_s: float = 30.0
    idle_s: float = 300.0
    age_s: float = 600.0

    def options(self) -> list[tuple[str, int]]:
        # The age is what makes clients balancing over DNS resolve again (a connection
        # told to go away is their cue; see channels.Balancing), so replicas added since
        # get calls. No max_connection_age_grace: its default (forever) lets the long
        # streams (change feeds, metrics ingest) finish on the old connection instead of
        # being cut.
        return [
            ("grpc.server_handshake_timeout_ms", int(self.handshake_s * 1000)),
            ("grpc.max_connection_idle_ms", int(self.idle_s * 1000)),
            ("grpc.max_connection_age_ms", int(self.age_s * 1000)),
        ]


def build_server(
    internal_token: str,
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    limits: ConnectionLimits = ConnectionLimits(),
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A server whose internal APIs answer only callers sending `internal_token`."""
    server = grpc.aio.server(
        # Metered first: it sees the status the others settled on.
        interceptors=[MeteredServer(), ServerInterceptor(internal_token)],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            # A port another process holds is an error at start, never silently shared.
            ("grpc.so_reuseport", 0),
            *limits.options(),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, names: list[str], serving: bool) -> None:
    for name in ["", *names]:
        await health_servicer.set(name, _status(serving))


async def set_serving_each(health_servicer: health.aio.HealthServicer, names: Mapping[str, bool]) -> None:
    """Each gRPC service name SERVING or not as given; the whole server ("") only when all are."""
    for name, serving in names.items():
        await health_servicer.set(name, _status(serving))
    await health_servicer.set("", _status(all(names.values())))


def _status(serving: bool) -> int:
    return health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
