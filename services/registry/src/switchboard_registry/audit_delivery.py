"""The auth service's audit log as the registry's outbox sends to it: `RecordAudit`
over gRPC, with the deadline, its failures translated at this boundary."""

from __future__ import annotations

import grpc
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard_core.errors import from_grpc


class AuthAuditLog:
    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout_s = timeout_s

    async def record(self, records: list[bytes]) -> None:
        """Append serialized `AuditRecord`s; raises a SwitchboardError when auth did not take them."""
        request = auth_pb2.RecordAuditRequest(records=[auth_pb2.AuditRecord.FromString(r) for r in records])
        try:
            await self._stub.RecordAudit(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "auth") from exc
