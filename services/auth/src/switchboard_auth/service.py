"""The auth service as a host runs it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc
from fastapi import APIRouter
from starlette.routing import BaseRoute
from switchboard.auth.v1 import auth_pb2_grpc
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.http.refusals import refusals_recorded
from switchboard_core.service import Runtime
from switchboard_core.shared.runtime import local_shared

from switchboard_auth.app import build_router
from switchboard_auth.audit_api import build_audit_router
from switchboard_auth.authorization_server_api import build_metadata_router
from switchboard_auth.domain import shared_keys
from switchboard_auth.domain.accounts import Accounts
from switchboard_auth.domain.bootstrap import admin_banner
from switchboard_auth.domain.revocations import RevocationFeed
from switchboard_auth.domain.shared_keys import SharedKeys
from switchboard_auth.domain.shared_revocations import CHANNEL, SharedRevocations
from switchboard_auth.keys_api import build_keys_router
from switchboard_auth.people_api import build_people_router
from switchboard_auth.rpc import AuthServicer
from switchboard_auth.settings import AuthSettings
from switchboard_auth.startup import OpenedAuth, open_auth
from switchboard_auth.teams_api import build_teams_router


class AuthService:
    name = "auth"
    grpc_names: Sequence[str] = ("switchboard.auth.v1.AuthService",)

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._revocations = RevocationFeed()
        self._opened: OpenedAuth | None = None
        self._relay: asyncio.Task[None] | None = None
        self._key_tasks: list[asyncio.Task[None]] = []
        self._shared: SharedRevocations | None = None

    @property
    def accounts(self) -> Accounts:
        return self.opened.accounts

    @property
    def opened(self) -> OpenedAuth:
        if self._opened is None:
            raise DependencyUnavailable("the auth service is not started")
        return self._opened

    def routers(self) -> Sequence[APIRouter]:
        recorded = refusals_recorded(lambda: self.opened.refusals)
        return [
            build_router(lambda: self.accounts, recorded),
            build_people_router(
                lambda: self.accounts, lambda: self.opened.users, lambda: self.opened.roles, recorded
            ),
            build_teams_router(lambda: self.opened.teams, recorded),
            build_keys_router(lambda: self.opened.keys, recorded),
            build_metadata_router(self.settings),
            build_audit_router(lambda: self.opened.audit),
        ]

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def owned_database(self) -> str | None:
        return self.settings.database_url

    def add_to_grpc(self, server: grpc.aio.Server) -> None:
        auth_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(lambda: self.accounts, lambda: self.opened.audit), server
        )

    async def start(self, runtime: Runtime) -> None:
        shared = runtime.shared or local_shared(self.name)
        self._revocations = RevocationFeed()
        self._shared = revocations = SharedRevocations(self._revocations, shared.bus)
        self._opened = await open_auth(self.settings, revocations)
        # Subscribed before any WatchRevocations stream can open here: none misses a revocation.
        subscription = await shared.bus.subscribe(CHANNEL)
        self._relay = asyncio.create_task(revocations.relay(subscription), name="revocation relay")
        keys = SharedKeys(self._opened.keys, shared.bus, self._revocations)
        key_changes = await shared.bus.subscribe(shared_keys.CHANNEL)
        self._key_tasks = [
            asyncio.create_task(keys.follow(key_changes), name="signing key follower"),
            asyncio.create_task(keys.refresh(), name="signing key refresh"),
        ]
        password = self._opened.generated_admin_password
        if password is not None:
            print(admin_banner(self.settings.bootstrap_admin_email, password), file=sys.stderr, flush=True)

    async def drain(self) -> None:
        # Ends open WatchRevocations streams so the gRPC server stops without waiting on them.
        self._revocations.close()
        await self._stop_background()

    async def _stop_background(self) -> None:
        relay, self._relay = self._relay, None
        tasks, self._key_tasks = [*self._key_tasks, *([relay] if relay else [])], []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._shared is not None:
            await self._shared.close()

    async def stop(self) -> None:
        await self._stop_background()
        if self._opened is not None:
            opened, self._opened = self._opened, None
            await opened.close()
