"""Fixtures every directory may use: a real auth service started from the directory's
own `auth_settings` (tests/auth: each storage backend; tests/registry: SQLite beside
the registry's). And the order tests run in: the slow directories first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard_auth import AuthService, AuthSettings
from switchboard_auth.domain import key_material
from switchboard_auth.store.signing_keys import all_signing_keys
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.grpc import build_server
from switchboard_core.grpc.interceptors import client_interceptors
from switchboard_core.http.app import create_app
from switchboard_core.principals import PrincipalCache
from switchboard_core.service import Runtime
from switchboard_testing.auth_service import ADMIN_EMAIL, ADMIN_PASSWORD, Auth
from switchboard_testing.internal import INTERNAL_TOKEN

# Directories of whole stacks and gateway processes, slowest first.
_SLOW_FIRST = ("tests/deploy/", "tests/stack/", "tests/e2e/", "tests/fuzz/", "tests/conformance/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow directories first. Workers take whole files (`--dist loadfile`) in
    collection order: were the stack files last, one worker would end the run on them
    alone while the other sat idle; first, the quick files fill the end on both."""

    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(_SLOW_FIRST) if item.nodeid.startswith(prefix)), len(_SLOW_FIRST)
        )

    items.sort(key=rank)  # stable: within a rank, the order collected


@dataclass
class RunningAuth(Auth):
    """The service, its gRPC stub and HTTP app, and what `Auth` does through them."""

    settings: AuthSettings
    service: AuthService
    stub: auth_pb2_grpc.AuthServiceStub
    app: FastAPI

    async def authenticate(self, token: str) -> auth_pb2.Principal:
        reply = await self.stub.Authenticate(auth_pb2.AuthenticateRequest(token=token), timeout=5)
        return reply.principal

    async def rejection(self, token: str) -> str:
        """The UNAUTHENTICATED detail for a token that must be refused."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await self.authenticate(token)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, caught.value
        return caught.value.details()

    async def signing_key(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """The service's active key, read from its database and opened with its sealing
        key (as someone who stole both would)."""
        engine = create_engine(self.settings.database_url)
        try:
            async with sessionmaker(engine)() as session:
                row = next(row for row in await all_signing_keys(session) if row.active)
        finally:
            await engine.dispose()
        pem = key_material.open_private(self.settings.sealing_keys(), row.kid, row.private_key_pem)
        return row.kid, serialization.load_pem_private_key(pem.encode(), password=None)

    async def resigned(self, token: str, **changes) -> str:
        """The token with some claims changed, signed again with the service's real key."""
        claims = jwt.decode(token, options={"verify_signature": False})
        kid, key = await self.signing_key()
        return jwt.encode({**claims, **changes}, key, algorithm="ES256", headers={"kid": kid})

    async def add_user(
        self, admin: str, email: str, password: str = "a long enough password", *, is_admin: bool = False
    ) -> dict:
        """A new user made by the administrator holding token `admin`: its JSON."""
        response = await self.http.post(
            "/auth/users",
            json={"email": email, "password": password, "is_admin": is_admin},
            headers={"authorization": f"Bearer {admin}"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        response = await self.http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@pytest.fixture
async def auth(auth_settings: AuthSettings) -> AsyncIterator[RunningAuth]:
    service = AuthService(auth_settings)
    server, _health = build_server(INTERNAL_TOKEN)
    service.add_to_grpc(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=client_interceptors(INTERNAL_TOKEN))
    principals = PrincipalCache(channel, timeout_s=5)
    try:
        await service.start(Runtime(auth_settings, principals=principals))
        principals.start_watching()
        app = create_app(title="auth under test", routers=service.routers())
        app.state.principals = principals
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://auth.test"
        ) as http:
            yield RunningAuth(
                http, principals, auth_settings, service, auth_pb2_grpc.AuthServiceStub(channel), app
            )
    finally:
        await principals.close()
        await service.drain()
        await server.stop(None)
        await service.stop()
        await channel.close()
