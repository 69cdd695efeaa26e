"""The mcp-proxy service: MCP sessions and the data path to upstreams."""

from __future__ import annotations

import asyncio

import grpc
from starlette.routing import Route
from switchboard.proxy.v1 import proxy_pb2_grpc
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.prometheus.catalogue import MCP_SESSIONS_OPEN, MCP_STREAMS_OPEN
from switchboard_core.service import Runtime
from switchboard_mcp import jsonrpc
from switchboard_mcp.upstream import UpstreamPool

from switchboard_proxy import open_streams
from switchboard_proxy.bearer_gate import BearerGate
from switchboard_proxy.call_metrics import process_call_metrics
from switchboard_proxy.catalog import CatalogCache
from switchboard_proxy.dispatch import Dispatcher
from switchboard_proxy.event_log import EventLogs
from switchboard_proxy.event_mirror import EventMirror
from switchboard_proxy.http_endpoint import McpEndpoint
from switchboard_proxy.input_rounds import InputRounds
from switchboard_proxy.legacy_sse import LegacySseEndpoint
from switchboard_proxy.listen_streams import ListenStreams
from switchboard_proxy.metrics_buffer import MetricsBuffer
from switchboard_proxy.resource_metadata import WELL_KNOWN, ResourceMetadata
from switchboard_proxy.round_relay import RoundRelay
from switchboard_proxy.rpc import ProxyServicer
from switchboard_proxy.rpc_endpoint import RpcEndpoint
from switchboard_proxy.session_records import RedisRecords
from switchboard_proxy.session_relay import SessionRelay, new_replica_id
from switchboard_proxy.sessions import SessionStore
from switchboard_proxy.settings import ProxySettings
from switchboard_proxy.upstream_events import UpstreamEvents
from switchboard_proxy.upstream_records import UpstreamRecords


class ProxyService:
    name = "mcp-proxy"
    grpc_names = ("switchboard.proxy.v1.ProxyService",)

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(
            idle_ttl_s=settings.session_idle_ttl_s, max_per_user=settings.max_sessions_per_user
        )
        # subscriptions/listen streams of stateless (2026-07-28) clients.
        self.listens = ListenStreams()
        self.dispatcher: Dispatcher | None = None
        self.input_rounds: InputRounds | None = None
        self.endpoint: McpEndpoint | None = None
        self.servicer: ProxyServicer | None = None
        self.rpc_endpoint: RpcEndpoint | None = None
        self.legacy_sse: LegacySseEndpoint | None = None
        self._sweeper: asyncio.Task | None = None
        self.relay: SessionRelay | None = None
        self.round_relay: RoundRelay | None = None
        self.mirror: EventMirror | None = None
        self._releases: set[asyncio.Task] = set()
        # Built from settings alone: fails at start on a bad trusted-proxy entry.
        self.trust = ProxyTrust(settings.trusted_proxies, public_url=settings.public_url)
        self.metadata = ResourceMetadata(self.trust, authorization_servers=settings.authorization_servers)

    def routers(self):
        return []

    def owned_database(self) -> str | None:
        return None  # the proxy keeps nothing of its own: its state is in Redis or in memory

    def routes(self):
        endpoint = self.endpoint
        methods = ["GET", "POST", "DELETE"]
        return [
            Route("/mcp", endpoint, methods=methods),
            Route("/servers/{server_id}/mcp", endpoint, methods=methods),
            Route("/sse", self.legacy_sse, methods=["GET"]),
            Route("/servers/{server_id}/sse", self.legacy_sse, methods=["GET"]),
            Route("/message", self.legacy_sse, methods=["POST"]),
            Route("/servers/{server_id}/message", self.legacy_sse, methods=["POST"]),
            Route("/rpc", self.rpc_endpoint, methods=["POST"]),
            Route("/servers/{server_id}/rpc", self.rpc_endpoint, methods=["POST"]),
            Route(WELL_KNOWN, self.metadata, methods=["GET"]),
            Route(WELL_KNOWN + "/{endpoint:path}", self.metadata, methods=["GET"]),
        ]

    def add_to_grpc(self, server: grpc.aio.Server) -> None:
        proxy_pb2_grpc.add_ProxyServiceServicer_to_server(self.servicer, server)

    async def start(self, runtime: Runtime) -> None:
        settings = self.settings
        shared = runtime.shared
        if shared is not None and shared.redis is not None:
            # Replicas share sessions: records in Redis, the rest told over the bus.
            self.sessions = SessionStore(
                idle_ttl_s=settings.session_idle_ttl_s,
                max_per_user=settings.max_sessions_per_user,
                records=RedisRecords(shared.redis),
                replica=new_replica_id(),
            )
        catalogs = CatalogCache(
            runtime.channel("registry"),
            timeout_s=settings.grpc_timeout_s,
            ttl_s=settings.catalog_ttl_s,
            shared=None if shared is None else shared.level("catalog", ttl_s=settings.catalog_ttl_s),
            keys=settings.sealing_keys(),
        )
        metrics = MetricsBuffer(
            runtime.channel("metrics"),
            flush_interval_s=settings.metrics_flush_interval_s,
            capacity=settings.metrics_buffer_capacity,
            timeout_s=settings.grpc_timeout_s,
        )
        self.dispatcher = Dispatcher(
            catalogs,
            UpstreamPool(
                policy=settings.outbound_policy(),
                timeout_s=settings.upstream_timeout_s,
                answer_wait_s=settings.input_wait_s,
            ),
            metrics,
            UpstreamEvents(self.sessions, self.listens),
            page_size=settings.list_page_size,
            upstream_timeout_s=settings.upstream_timeout_s,
            calls=process_call_metrics(settings.call_metrics_max_series),
        )
        self.sessions.on_end = self._session_ended
        if shared is not None and shared.redis is not None:
            self.mirror = EventMirror(shared.redis, shared.bus, ttl_s=settings.session_idle_ttl_s)
            self.sessions.event_logs = self._mirrored_logs
            self.relay = SessionRelay(shared.bus, self.sessions)
            await self.relay.start(deliver=self.dispatcher.deliver_here, cancel=self.dispatcher.cancel_here)
            self.dispatcher.relay = self.relay
            self.dispatcher.client_upstreams.share_through(
                UpstreamRecords(
                    shared.redis, replica=self.sessions.replica, session_ttl_s=settings.session_idle_ttl_s
                )
            )
        self.input_rounds = InputRounds(
            self.dispatcher.deliver, ttl_s=settings.input_wait_s, replica=self.sessions.replica
        )
        gate = BearerGate(
            runtime.principals, self.trust, runtime.limits, catalogs, allowed_origins=settings.allowed_origins
        )
        self.endpoint = McpEndpoint(
            settings,
            gate,
            self.sessions,
            self.dispatcher,
            listens=self.listens,
            rounds=self.input_rounds,
        )
        self.endpoint.mirror = self.mirror
        self.endpoint.relay = self.relay
        if shared is not None and shared.redis is not None:
            self.round_relay = RoundRelay(shared.bus, self.sessions.replica)
            self.endpoint.interactive_calls.relay = self.round_relay
            await self.round_relay.start(self.endpoint.interactive_calls.resume_relayed)
        self.legacy_sse = LegacySseEndpoint(settings, gate, self.sessions, self.dispatcher)
        self.legacy_sse.relay = self.relay
        self.rpc_endpoint = RpcEndpoint(
            gate,
            self.dispatcher,
            max_message_bytes=settings.max_message_bytes,
            max_batch_messages=settings.max_batch_messages,
        )
        self.servicer = ProxyServicer(runtime.principals, self.dispatcher)
        catalogs.on_change(self._announce_list_changes)
        catalogs.start_watching()
        metrics.start()
        self._gauge_live_structures()
        self._sweeper = asyncio.create_task(self._sweep_sessions(), name="session-sweeper")

    def _gauge_live_structures(self) -> None:
        """Sessions and listen streams are counted where they live, at scrape time: no
        cost per request. (The process's proxy is the one a scrape reads.)"""
        MCP_SESSIONS_OPEN.set_function(lambda: len(self.sessions))
        MCP_STREAMS_OPEN.labels(open_streams.LISTEN).set_function(lambda: len(self.listens))

    def _mirrored_logs(self, session_id: str) -> EventLogs:
        mirror = self.mirror
        return EventLogs(self.sessions.replica, lambda stream_id: mirror.writer(session_id, stream_id))

    def _session_ended(self, session) -> None:
        if self.dispatcher is not None:
            task = asyncio.get_running_loop().create_task(self.dispatcher.client_upstreams.release(session))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    def _announce_list_changes(self) -> None:
        self.listens.announce_list_changes()
        for session in self.sessions.all():
            if not session.hears_here():
                continue  # the replica holding its GET stream tells it
            for kind in ("tools", "prompts", "resources"):
                session.push(jsonrpc.notification(f"notifications/{kind}/list_changed"))

    async def _sweep_sessions(self) -> None:
        # Shared records are kept alive for sessions used here within the last period,
        # well inside their TTL; local copies idle past the TTL are forgotten.
        every = min(60.0, self.settings.session_idle_ttl_s / 3)
        while True:
            await asyncio.sleep(every)
            self.sessions.expire()
            await self.sessions.refresh(within_s=every * 1.5)

    async def drain(self) -> None:
        self.listens.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.dispatcher is not None:
            await self.dispatcher.metrics.close()

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        if self.round_relay is not None:
            await self.round_relay.close()
        if self.mirror is not None:
            await self.mirror.close()
        if self.input_rounds is not None:
            await self.input_rounds.close()
        if self.dispatcher is not None:
            await self.dispatcher.catalogs.close()
            await self.dispatcher.events.close()
            await self.dispatcher.client_upstreams.close()
            await self.dispatcher.upstreams.close()
