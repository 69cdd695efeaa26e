"""gRPC face: `switchboard.auth.v1.AuthService`. Translation only; errors raised here
become status codes in the core server interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard_core.audit import AuditEvent

from switchboard_auth.domain.accounts import Accounts
from switchboard_auth.domain.audit import AuditLog


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, accounts: Callable[[], Accounts], audit: Callable[[], AuditLog]) -> None:
        self._accounts = accounts
        self._audit = audit

    async def Authenticate(
        self, request: auth_pb2.AuthenticateRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AuthenticateResponse:
        principal = await self._accounts().authenticate(request.token)
        return auth_pb2.AuthenticateResponse(principal=principal.to_proto())

    async def WatchRevocations(
        self, request: auth_pb2.WatchRevocationsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[auth_pb2.Revocation]:
        subscription = self._accounts().watch_revocations()
        try:
            # Initial metadata arrives once the subscription exists: a caller that waits
            # for it knows no later revocation can be missed.
            await context.send_initial_metadata(())
            async for revocation in subscription:
                yield auth_pb2.Revocation(token_id=revocation.token_id, user_id=revocation.user_id)
        finally:
            subscription.close()

    async def RecordAudit(
        self, request: auth_pb2.RecordAuditRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RecordAuditResponse:
        await self._audit().ingest([AuditEvent.from_proto(record) for record in request.records])
        return auth_pb2.RecordAuditResponse()
