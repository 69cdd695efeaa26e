"""Following upstreams: a gateway whose upstream announces a list change is refreshed.

Each registered gateway gets a follower holding the upstream's own event stream
open (the Streamable HTTP GET stream, or the legacy SSE stream) on a session of
its own. On `notifications/{tools,prompts,resources}/list_changed` the gateway is
refreshed exactly as an administrator's refresh would, so the revision rises and
every watcher hears of it. Announcements are gathered for `debounce_s` first, so a
burst costs one refresh; a gateway is never refreshed twice at once.

Announcements made while no stream was open are lost, so each time a stream opens
(the first time, and after every drop) the gateway is refreshed once as well. A
dropped stream is opened again with backoff. An upstream that offers no stream (its
GET answered 405, or the stream ends at once without a word) is asked again only
every `no_stream_retry_s`, and so listed again that often.

Which gateways are followed is taken from the database whenever the catalog
changes (and every `recheck_s` besides), so gateways registered or deleted later,
by this process or another, are followed or dropped. Followers exist only while
`UpstreamFollowers.run()` runs: the job of the replica leading the upstream work
(leader election, see the registry service), so one replica follows for all and a
replica losing the lease drops its followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import orjson
from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import Conflict, InvalidInput, NotFound, UpstreamError
from switchboard_core.resilience.backoff import delay
from switchboard_mcp.upstream import NegotiatingUpstream

from switchboard_registry.domain.changes import ChangeFeed
from switchboard_registry.domain.gateways import Gateways
from switchboard_registry.domain.models import HealthTarget
from switchboard_registry.domain.upstream_access import UpstreamAccess
from switchboard_registry.store.gateways import health_targets

logger = logging.getLogger(__name__)

LIST_CHANGED = frozenset(
    {
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/list_changed",
    }
)
# Backoff between attempts to open a dropped stream: 1 s doubling to a minute.
_RETRY_BASE_S = 1.0
_RETRY_CAP_S = 60.0


class _Follower:
    """One gateway's follower: a task listening to the upstream, one refreshing the gateway."""

    def __init__(self, target: HealthTarget, owner: UpstreamFollowers) -> None:
        self.url = target.url
        self.sealed = target.auth_sealed
        self._id = target.id
        self._name = target.name
        self._owner = owner
        self._wanted = asyncio.Event()
        COUNTERS.add("registry.followers_started")
        self._tasks = (
            asyncio.create_task(self._listen(), name=f"following {target.name}"),
            asyncio.create_task(self._refresh_when_wanted(), name=f"refreshing {target.name}"),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                heard = await self._listen_once()
            except (UpstreamError, orjson.JSONDecodeError) as exc:
                if time.monotonic() - started >= self._owner.timeout_s:
                    failures = 0  # the stream had been open a good while
                failures += 1
                pause = delay(failures, base=_RETRY_BASE_S, cap=_RETRY_CAP_S)
                logger.info("lost the event stream of %s (%s); again in %.1fs", self._name, exc, pause)
            except Exception:  # the task's top level: log, keep following
                failures += 1
                pause = delay(failures, base=_RETRY_BASE_S, cap=_RETRY_CAP_S)
                logger.exception("following %s failed; trying again in %.1fs", self._name, pause)
            else:
                failures = 0
                if not heard and time.monotonic() - started < self._owner.timeout_s:
                    pause = self._owner.no_stream_retry_s
                    logger.info("%s offers no event stream; asking again in %gs", self._name, pause)
                else:
                    pause = delay(1, base=_RETRY_BASE_S)
            await asyncio.sleep(pause)

    async def _listen_once(self) -> bool:
        """Follow one stream to its end; whether the upstream sent anything on it."""
        http = self._owner.upstreams.client(self._id, self._name, self.url, self.sealed)
        upstream = NegotiatingUpstream(self.url, http, timeout_s=self._owner.timeout_s)
        opened = asyncio.Event()
        catch_up = asyncio.create_task(
            self._catch_up_once(upstream, opened), name=f"catching up {self._name}"
        )
        heard = False
        try:
            async for message in upstream.listen(opened):
                heard = True
                if isinstance(message, dict) and message.get("method") in LIST_CHANGED:
                    self._wanted.set()
        finally:
            catch_up.cancel()
            await upstream.close()
        return heard

    async def _catch_up_once(self, upstream: NegotiatingUpstream, opened: asyncio.Event) -> None:
        """Announcements sent while nobody listened are lost: list the upstream once its stream opens."""
        await opened.wait()
        if upstream.resolved is not None:  # else it was not reached at all
            self._wanted.set()

    async def _refresh_when_wanted(self) -> None:
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self._owner.debounce_s)
            # Announcements from here on may postdate what this refresh lists: they ask again.
            self._wanted.clear()
            try:
                await self._refresh()
            except Exception:  # the task's top level: log, refresh again at the next announcement
                logger.exception("refreshing gateway %s after its announcement failed", self._name)

    async def _refresh(self) -> None:
        try:
            async with self._owner.refreshing:
                await self._owner.gateways.refresh(self._id)
        except NotFound:
            return  # deleted meanwhile; the follower is about to stop
        except (Conflict, InvalidInput) as exc:
            logger.warning(
                "gateway %s announced a change but its new listing is refused (%s); serving its previous one",
                self._name,
                exc.message,
            )
        except UpstreamError as exc:
            logger.warning(
                "gateway %s announced a change but could not be listed: %s", self._name, exc.message
            )


class UpstreamFollowers:
    """The followers of every registered gateway, kept in step with the database."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        feed: ChangeFeed,
        gateways: Gateways,
        upstreams: UpstreamAccess,
        *,
        timeout_s: float,
        debounce_s: float = 0.5,
        no_stream_retry_s: float = 300.0,
        recheck_s: float = 30.0,
        concurrency: int = 32,
    ) -> None:
        self._db = sessions
        self._feed = feed
        self.gateways = gateways
        self.upstreams = upstreams
        self.timeout_s = timeout_s
        self.debounce_s = debounce_s
        self.no_stream_retry_s = no_stream_retry_s
        # Bounds the refreshes running at once (all gateways catch up when the registry starts).
        self.refreshing = asyncio.Semaphore(concurrency)
        self._recheck_s = recheck_s
        self._followers: dict[str, _Follower] = {}
        self._changed = asyncio.Event()

    @property
    def followed(self) -> set[str]:
        """Ids of the gateways followed now."""
        return set(self._followers)

    async def run(self) -> None:
        """Follow every registered gateway until cancelled; then follow none."""
        try:
            await self._follow_in_step()
        finally:
            await self._follow({})

    async def _follow_in_step(self) -> None:
        with self._feed.subscribe() as subscription:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._note_changes(subscription.after(0)), name="following catalog changes")
                while True:
                    try:
                        await self._keep_in_step()
                    except Exception:  # the loop's top level: log, try again at the next change
                        logger.exception("could not update the followed gateways")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._recheck_s):
                            await self._changed.wait()
                    self._changed.clear()

    async def _note_changes(self, revisions) -> None:
        async for _ in revisions:
            self._changed.set()

    async def _keep_in_step(self) -> None:
        async with self._db() as s:
            wanted = {t.id: t for t in await health_targets(s)}
        await self._follow(wanted)

    async def _follow(self, wanted: dict[str, HealthTarget]) -> None:
        gone = [
            self._followers.pop(gateway_id)
            for gateway_id, follower in list(self._followers.items())
            if gateway_id not in wanted
            or wanted[gateway_id].url != follower.url
            or wanted[gateway_id].auth_sealed != follower.sealed
        ]
        for gateway_id, target in wanted.items():
            if gateway_id not in self._followers:
                self._followers[gateway_id] = _Follower(target, self)
        await asyncio.gather(*(follower.stop() for follower in gone))
