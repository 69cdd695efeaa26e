"""The registry's access index, asked for over gRPC and kept until the catalog changes.

The index is kept while the registry's change feed is open and has told of no revision
newer than the index's; while the feed is down every query asks again, so a change made
then is never missed. Concurrent queries that find no index share one request.
"""

from __future__ import annotations

import asyncio

import grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.errors import from_grpc
from switchboard_core.grpc import feeds
from switchboard_core.policy import Target
from switchboard_core.shared.redis_client import cancel_until_done

from switchboard_metrics.domain.visibility import AccessIndex, ServerTools


class RegistryAccess:
    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float) -> None:
        self._stub = registry_pb2_grpc.RegistryServiceStub(channel)
        self._timeout_s = timeout_s
        self._index: AccessIndex | None = None
        self._inflight: asyncio.Future[AccessIndex] | None = None
        # The newest revision the feed told of; None while the feed is down.
        self._revision: int | None = None
        self._watch: asyncio.Task | None = None

    async def index(self) -> AccessIndex:
        index = self._index
        if index is not None and self._revision is not None and index.revision >= self._revision:
            return index
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._fetched)
        return await asyncio.shield(self._inflight)

    def _fetched(self, done: asyncio.Future[AccessIndex]) -> None:
        if self._inflight is done:
            self._inflight = None
        if not done.cancelled() and done.exception() is None:
            self._index = done.result()

    async def _fetch(self) -> AccessIndex:
        try:
            reply = await self._stub.GetAccessIndex(
                registry_pb2.GetAccessIndexRequest(), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "registry") from exc
        return _index(reply)

    def start_watching(self) -> None:
        self._watch = asyncio.create_task(self._follow_changes(), name="catalog-changes")

    async def close(self) -> None:
        await cancel_until_done(self._watch)

    async def _follow_changes(self) -> None:
        await feeds.follow(
            "catalog",
            lambda: self._stub.WatchCatalog(registry_pb2.WatchCatalogRequest()),
            self._changed,
            self._lost_track,
        )

    def _changed(self, change: registry_pb2.CatalogChange) -> None:
        self._revision = change.revision
        # A request under way may predate the change: the next query asks again.
        self._inflight = None

    def _lost_track(self) -> None:
        self._revision = None
        self._inflight = None


def _index(reply: registry_pb2.AccessIndex) -> AccessIndex:
    servers = {
        s.server_id: ServerTools(_target(s.access), {t.name: _target(t.access) for t in s.tools})
        for s in reply.servers
    }
    servers[""] = ServerTools(None, {t.name: _target(t.access) for t in reply.tools})
    return AccessIndex(reply.revision, servers)


def _target(access: registry_pb2.Access) -> Target:
    return Target(team_id=access.team_id, owner_id=access.owner_id, visibility=access.visibility)
