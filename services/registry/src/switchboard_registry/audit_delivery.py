"""The auth service's audit log as the registry's outbox sends to it: `RecordAudit`
over gRPC, with the deadline, its failures translated at this boundary.

What a failure means for the records sent decides what the outbox does with them, so
the gRPC status is read here, once:

- will never succeed for these records, however often sent: `InvalidInput` (the outbox
  sends a batch one record at a time, then sets aside each record refused alone).
  `INVALID_ARGUMENT` (auth refuses the record), `OUT_OF_RANGE` (a value auth cannot
  take), `RESOURCE_EXHAUSTED` (the request is larger than a gRPC message may be: auth
  applies no rate or quota to `RecordAudit`, so this is the size), and a record that is
  not a serialized `AuditRecord` at all (it never reaches the wire).
- may succeed later: any other status (`from_grpc`), retried with backoff. Among them
  those that say the deployment, not the record, is wrong until someone fixes it
  (`UNAUTHENTICATED`/`PERMISSION_DENIED`: the internal token; `UNIMPLEMENTED`: an auth
  older than the registry; `FAILED_PRECONDITION`), and `INTERNAL`/`UNKNOWN`: setting
  records aside for these would set aside every record while the deployment is wrong.

A record larger than the bound (kept in the outbox by a registry older than the bound)
is sent cut down to it (`switchboard_core.audit.bounded`), rather than refused.
"""

from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard_core.audit import MAX_RECORD_BYTES, AuditEvent, bounded
from switchboard_core.errors import InvalidInput, from_grpc

_NEVER_TAKEN = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class AuthAuditLog:
    def __init__(
        self, channel: grpc.aio.Channel, *, timeout_s: float, max_record_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._timeout_s = timeout_s
        self._max_record_bytes = max_record_bytes

    async def record(self, records: list[bytes]) -> None:
        """Append serialized `AuditRecord`s; raises `InvalidInput` when auth will never take
        them as sent, another SwitchboardError when it did not take them this time."""
        try:
            request = auth_pb2.RecordAuditRequest(records=[self._sendable(r) for r in records])
        except DecodeError as exc:
            raise InvalidInput(f"not a serialized audit record: {exc}") from exc
        try:
            await self._stub.RecordAudit(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _NEVER_TAKEN:
                raise InvalidInput(f"auth service: {exc.code().name}: {exc.details()}") from exc
            raise from_grpc(exc, "auth") from exc

    def _sendable(self, raw: bytes) -> auth_pb2.AuditRecord:
        record = auth_pb2.AuditRecord.FromString(raw)
        if len(raw) <= self._max_record_bytes:
            return record
        return bounded(AuditEvent.from_proto(record), self._max_record_bytes).to_proto()
