"""What one proxy replica tells the others about sessions, over the bus.

A session is served by whichever replica each request reaches, but an exchange with
an upstream lives in the replica that started it. So:

- a client's answer to a request an upstream sent it (sampling, elicitation, roots)
  goes to the replica that sent the request, named in its id (`sb-<replica>-<n>`),
  on that replica's channel `proxy:replica:<replica>`;
- a cancellation goes to every replica (`proxy:sessions:cancel`): the one with the
  request in flight acts on it;
- a deleted session is ended on every replica (`proxy:sessions:ended`);
- a message for a session's GET stream that arises on a replica not holding the
  stream (a resource update, a request from an upstream session of the client's)
  goes to `proxy:outbox:<session>`, which the replica holding the stream hears. With
  no stream open anywhere it is dropped, as a server without a stream must;
- what a legacy SSE client (2024-11-05) POSTs to a replica not holding its stream
  goes to `proxy:posts:<session>`, which the replica holding the stream hears and
  works on as if posted there (its answers go out on that stream). Redis says how
  many replicas heard it: none means the stream is gone (its replica died), and the
  POST gets the 404 of an unknown session rather than a 202 into the void.

The bus delivers at most once; a replica that missed messages (a Redis outage) gets a
resync and has nothing to rebuild: answers lost meanwhile leave their upstream call
to time out, as a dropped connection would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

import orjson
from switchboard_core.errors import SwitchboardError
from switchboard_core.shared.bus import Bus, Subscription

from switchboard_proxy.sessions import Session, SessionStore

logger = logging.getLogger(__name__)

ENDED = "proxy:sessions:ended"
CANCELLED = "proxy:sessions:cancel"
OUTGOING_LIMIT = 10_000

Handler = Callable[[dict, Session], Awaitable[None]]


def new_replica_id() -> str:
    return secrets.token_hex(4)


def _replica_channel(replica: str) -> str:
    return f"proxy:replica:{replica}"


def _outbox_channel(session_id: str) -> str:
    return f"proxy:outbox:{session_id}"


def _posts_channel(session_id: str) -> str:
    return f"proxy:posts:{session_id}"


class SessionRelay:
    def __init__(self, bus: Bus, sessions: SessionStore) -> None:
        self._bus = bus
        self._sessions = sessions
        self.replica = sessions.replica
        self._tasks: list[asyncio.Task] = []
        self._outgoing: asyncio.Queue[tuple[str, dict]] = asyncio.Queue(OUTGOING_LIMIT)
        self._feeds: dict[Subscription, asyncio.Task] = {}
        self.relayed = 0

    async def start(self, *, deliver: Handler, cancel: Handler) -> None:
        """Listen for the other replicas; `deliver` and `cancel` act on this replica only."""
        routes = {
            _replica_channel(self.replica): self._answered(deliver),
            CANCELLED: self._cancelled(cancel),
            ENDED: self._ended,
        }
        for channel, handle in routes.items():
            subscription = await self._bus.subscribe(channel)
            self._tasks.append(asyncio.create_task(self._follow(subscription, handle), name=f"bus {channel}"))
        self._tasks.append(asyncio.create_task(self._send_outgoing(), name="bus outbox"))
        self._sessions.on_delete = self.ended
        self._sessions.outbox_elsewhere = self.send_elsewhere

    def send_elsewhere(self, session_id: str, message: dict) -> None:
        """Queue a GET-stream message for whichever replica holds the stream (in order)."""
        try:
            self._outgoing.put_nowait((session_id, message))
        except asyncio.QueueFull:
            logger.warning("GET-stream messages for other replicas are backing up: one dropped")

    async def feed(self, session: Session) -> Subscription:
        """Hear the GET-stream messages other replicas send this session (while its stream is here)."""
        subscription = await self._bus.subscribe(_outbox_channel(session.id))
        task = asyncio.create_task(self._into_outbox(subscription, session), name=f"outbox {session.id[:8]}")
        self._feeds[subscription] = task
        return subscription

    async def hear_posts(self, session_id: str, take: Callable[[dict], Awaitable[None]]) -> Subscription:
        """Hear what clients POST to other replicas for a legacy SSE session whose stream
        is here (until `unfeed`); `take` gets each POST's body in order."""
        subscription = await self._bus.subscribe(_posts_channel(session_id))
        task = asyncio.create_task(self._follow(subscription, take), name=f"posts {session_id[:8]}")
        self._feeds[subscription] = task
        return subscription

    async def post_elsewhere(self, session_id: str, body: dict) -> bool:
        """Hand a POST's body to the replica holding the session's legacy SSE stream;
        False when none heard it (no such stream, or the bus is down)."""
        return await self._publish(_posts_channel(session_id), body) > 0

    async def unfeed(self, subscription: Subscription) -> None:
        task = self._feeds.pop(subscription, None)
        await subscription.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _into_outbox(self, subscription: Subscription, session: Session) -> None:
        async for message in subscription:
            if message.resync:
                continue
            body = orjson.loads(message.payload)
            if isinstance(body, dict) and isinstance(body.get("message"), dict):
                with contextlib.suppress(asyncio.QueueFull):
                    session.outbox.put_nowait(body["message"])

    async def _send_outgoing(self) -> None:
        while True:
            session_id, message = await self._outgoing.get()
            await self._publish(_outbox_channel(session_id), {"message": message})

    async def answer_elsewhere(self, replica: str, session: Session, response: dict) -> None:
        await self._publish(_replica_channel(replica), {"session": session.id, "message": response})

    async def cancel_elsewhere(self, session: Session, notification: dict) -> None:
        await self._publish(CANCELLED, {"session": session.id, "message": notification})

    async def ended(self, session_id: str) -> None:
        await self._publish(ENDED, {"session": session_id})

    async def _publish(self, channel: str, body: dict) -> int:
        """How many replicas heard it (none when it could not be sent)."""
        body["from"] = self.replica
        try:
            heard = await self._bus.publish(channel, orjson.dumps(body))
        except SwitchboardError as exc:
            logger.warning("could not tell the other replicas (%s): %s", channel, exc.message)
            return 0
        self.relayed += 1
        return heard

    def _answered(self, deliver: Handler):
        async def handle(body: dict) -> None:
            session = self._sessions.local(body.get("session", ""))
            if session is not None and isinstance(body.get("message"), dict):
                await deliver(body["message"], session)

        return handle

    def _cancelled(self, cancel: Handler):
        async def handle(body: dict) -> None:
            if body.get("from") == self.replica:
                return
            session = self._sessions.local(body.get("session", ""))
            if session is not None and isinstance(body.get("message"), dict):
                await cancel(body["message"], session)

        return handle

    async def _ended(self, body: dict) -> None:
        if body.get("from") != self.replica:
            self._sessions.ended_elsewhere(body.get("session", ""))

    async def _follow(self, subscription: Subscription, handle) -> None:
        async with subscription:
            async for message in subscription:
                if message.resync:
                    continue  # nothing here is derived from the bus: lost messages stay lost
                try:
                    body = orjson.loads(message.payload)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(body, dict):
                    try:
                        await handle(body)
                    except SwitchboardError as exc:
                        logger.info("a relayed session message failed: %s", exc.message)

    async def close(self) -> None:
        for subscription in list(self._feeds):
            await self.unfeed(subscription)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
