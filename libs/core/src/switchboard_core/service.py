"""What a service is to the process that hosts it, and the host itself.

A process runs one service (distributed mode) or all four (embedded mode) the same
way: one gRPC server carrying every hosted service's gRPC API plus health, one
Granian HTTP server carrying every hosted service's routers, and one `Runtime` that
hands each service its settings and channels to the others. Internal calls go over
gRPC even when the peer is in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from fastapi import APIRouter
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server as GranianServer
from grpc_health.v1 import health as grpc_health
from starlette.routing import BaseRoute

from switchboard_core.dependency_probes import DatabaseProbe, RedisProbe
from switchboard_core.grpc import Channels, build_server
from switchboard_core.grpc.channels import Balancing
from switchboard_core.grpc.server import ConnectionLimits, set_serving, set_serving_each
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import RequestIds
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.http.request_metrics import RequestMetrics
from switchboard_core.principals import PrincipalCache
from switchboard_core.rate_limits import RateLimiter, rate_limiter_from
from switchboard_core.readiness import Need, Readiness
from switchboard_core.settings import ServiceSettings
from switchboard_core.shared.redis_client import RedisConfig
from switchboard_core.shared.runtime import Shared, open_shared

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a running service may use of its host."""

    settings: ServiceSettings
    # Channels to the other services, carrying the internal token (made from the settings).
    channels: Channels = field(init=False)
    principals: PrincipalCache | None = None
    # The bus, leadership and Redis client replicas share (in-process when embedded).
    shared: Shared | None = None
    # Per-token and per-user request limits, checked where the caller is resolved.
    limits: RateLimiter | None = None

    def __post_init__(self) -> None:
        self.channels = Channels(
            self.settings.internal_credential(),
            balancing=Balancing(connection_age_s=self.settings.grpc_max_connection_age_s),
        )

    def channel(self, service: str) -> grpc.aio.Channel:
        return self.channels.get(self.settings.addr_of(service))  # type: ignore[arg-type]


class Service(Protocol):
    name: str
    # Fully-qualified gRPC service names, for the health service.
    grpc_names: Sequence[str]

    def routers(self) -> Sequence[APIRouter]: ...

    def routes(self) -> Sequence[BaseRoute]: ...

    def owned_database(self) -> str | None:
        """The URL of the database the service owns (None: it has none); it is ready only
        while that answers."""

    async def start(self, runtime: Runtime) -> None:
        """Open what the service owns; called before its routes and servicers are asked for."""

    def add_to_grpc(self, server: grpc.aio.Server) -> None: ...

    async def drain(self) -> None:
        """Flush what must leave before peers go away (e.g. buffered metrics)."""

    async def stop(self) -> None:
        """Release resources; called after the gRPC server stopped."""


class Host:
    """Runs services until `stop()` (or SIGINT/SIGTERM when `serve_forever` runs)."""

    def __init__(self, settings: ServiceSettings, services: Sequence[Service], *, title: str) -> None:
        self.settings = settings
        self.services = list(services)
        self.title = title
        self.runtime = Runtime(settings)
        self._stopping = asyncio.Event()
        self.http: GranianServer | None = None
        self.grpc_port = 0

    async def serve_forever(self, on_ready=None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        server, health = build_server(
            self.settings.internal_credential(),
            limits=ConnectionLimits(
                handshake_s=self.settings.grpc_handshake_timeout_s,
                idle_s=self.settings.grpc_max_connection_idle_s,
                age_s=self.settings.grpc_max_connection_age_s,
            ),
        )
        names = [n for s in self.services for n in s.grpc_names]
        started: list[Service] = []
        http_task: asyncio.Task | None = None
        readiness: Readiness | None = None
        shared = open_shared(self.settings, self.services[0].name if len(self.services) == 1 else "embedded")
        self.runtime.shared = await shared.__aenter__()
        self.runtime.principals = PrincipalCache(
            self.runtime.channel("auth"),
            timeout_s=self.settings.grpc_timeout_s,
            shared=self.runtime.shared.level("principals"),
        )
        self.runtime.limits = rate_limiter_from(
            self.settings.rate_limit_per_token,
            self.settings.rate_limit_per_user,
            redis=self.runtime.shared.redis,
            sync_interval_s=self.settings.rate_limit_sync_ms / 1000,
        )
        try:
            # Services start before the gRPC server does: a start may open databases but
            # never waits on a peer (feeds from peers reconnect on their own).
            for service in self.services:
                await service.start(self.runtime)
                started.append(service)
                service.add_to_grpc(server)
            self.grpc_port = server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.grpc_port}")
            await set_serving(health, names, False)
            readiness = self._readiness(health)
            await server.start()
            self.runtime.principals.start_watching()
            self.runtime.limits.start()
            # Every service just reached its dependencies at start: the first round is
            # quick, and marks each service SERVING (or not, honestly, if one went since)
            # before the HTTP port opens, so `/readyz` never answers from no check at all.
            await readiness.check_now()
            readiness.start()
            raw_routes = [r for s in self.services for r in s.routes()]
            app = create_app(
                title=self.title,
                routers=[r for s in self.services for r in s.routers()],
                routes=raw_routes,
                max_body_bytes=self.settings.max_body_bytes,
                body_timeout_s=self.settings.http_body_timeout_s,
            )
            app.state.principals = self.runtime.principals
            app.state.limits = self.runtime.limits
            app.state.trust = ProxyTrust(self.settings.trusted_proxies)
            app.state.runtime = self.runtime
            app.state.readiness = readiness
            self.http = GranianServer(
                RequestIds(RequestMetrics(RawRoutesFirst(app, raw_routes))),
                address=self.settings.http_host,
                port=self.settings.http_port,
                interface=Interfaces.ASGINL,
                # HTTP/1 only: in `auto` mode Granian first waits, with no timeout at all,
                # for the bytes telling HTTP/2 from HTTP/1, so a client that sends nothing
                # held its connection forever. The header timeout covers a silent client,
                # a slow header and an idle keep-alive connection alike.
                http=HTTPModes.http1,
                http1_settings=HTTP1Settings(
                    header_read_timeout=int(self.settings.http_header_timeout_s * 1000)
                ),
                log_enabled=False,
                backlog=2048,
            )
            http_task = asyncio.create_task(self.http.serve(), name="http")
            if on_ready is not None:
                on_ready(self)
            stop_wait = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({stop_wait, http_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        finally:
            # Checks end first: none may mark a service SERVING again once it is stopping.
            if readiness is not None:
                await readiness.stop()
            await set_serving(health, names, False)
            if http_task is not None:
                self.http.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(http_task, self.settings.shutdown_grace_s)
            for service in reversed(started):
                await _quietly(service.drain(), f"draining {service.name}")
            await server.stop(self.settings.shutdown_grace_s)
            for service in reversed(started):
                await _quietly(service.stop(), f"stopping {service.name}")
            await self.runtime.limits.close()
            await self.runtime.principals.close()
            await self.runtime.channels.close()
            await shared.__aexit__(None, None, None)

    def stop(self) -> None:
        self._stopping.set()

    def _readiness(self, health: grpc_health.aio.HealthServicer) -> Readiness:
        """What each hosted service needs (its database; Redis when configured), checked
        in the background, its gRPC health status following."""
        needs = [
            Need(service.name, DatabaseProbe(url))
            for service in self.services
            if (url := service.owned_database()) is not None
        ]
        if self.settings.redis_url:
            redis = RedisProbe(RedisConfig.from_settings(self.settings))
            needs += [Need(service.name, redis) for service in self.services]
        grpc_names = {service.name: service.grpc_names for service in self.services}

        async def follow(ready: Mapping[str, bool]) -> None:
            await set_serving_each(
                health, {name: ready[service] for service, names in grpc_names.items() for name in names}
            )

        return Readiness(
            [service.name for service in self.services],
            needs,
            interval_s=self.settings.readiness_interval_s,
            timeout_s=self.settings.readiness_timeout_s,
            on_change=follow,
        )


async def _quietly(step, what: str) -> None:
    try:
        await step
    except Exception:
        logger.exception("%s failed", what)
