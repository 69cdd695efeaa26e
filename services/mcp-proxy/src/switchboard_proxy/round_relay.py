"""Stateless input rounds (2026-07-28) resumed on the replica that parked them.

A call waiting for its client's input is parked in the memory of one replica
(`input_rounds`), and its `requestState` names that replica. A retry reaching another
replica is handed over the bus to the holder's channel `proxy:rounds:<replica>`, with a
reply channel of its own; the holder checks it exactly as a retry posted there (same
user, server path, method and target; every question answered), resumes the call and
publishes, in order, what that retry's POST would have sent its client. The replica the
retry reached relays that to its client.

On the reply channel, one JSON object per message:

    {"refused": <JSON-RPC error>}   the retry does not fit (the client gets a 400 with it)
    {"accepted": true}              the call goes on: its messages follow
    {"message": <JSON-RPC message>} one for the client's stream (the final one last)
    {"tick": true}                  still working (sent while the call is quiet)
    {"end": true}                   nothing more

A state naming a replica nobody listens for (it died, or never was), or a holder not
answering within `ACCEPT_TIMEOUT_S`, is an unknown state, as a state unknown here is. A
holder falling silent for `SILENCE_S` mid-call (it died), or messages lost on the way
(a resync), end the client's stream with an error. A holder whose relaying replica no
longer listens (its client went away) stops the call, as a local one stops when its
client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable

import orjson
from switchboard_core.errors import SwitchboardError
from switchboard_core.shared.bus import Bus, Subscription
from switchboard_mcp import jsonrpc

logger = logging.getLogger(__name__)

ACCEPT_TIMEOUT_S = 2.0
TICK_S = 2.0
SILENCE_S = 3 * TICK_S

# A retry (a dict, see `stateless_calls.Retry`) -> a refusal, or the resumed call's messages.
ResumeHere = Callable[[dict], Awaitable[dict | AsyncGenerator[dict, None]]]


def _rounds_channel(replica: str) -> str:
    return f"proxy:rounds:{replica}"


class RoundRelay:
    def __init__(self, bus: Bus, replica: str) -> None:
        self._bus = bus
        self.replica = replica
        self._listener: asyncio.Task | None = None
        self._resumptions: set[asyncio.Task] = set()

    async def start(self, resume_here: ResumeHere) -> None:
        """Take the retries other replicas hand this one."""
        subscription = await self._bus.subscribe(_rounds_channel(self.replica))
        self._listener = asyncio.create_task(self._listen(subscription, resume_here), name="bus input rounds")

    async def resume_elsewhere(self, replica: str, retry: dict) -> dict | AsyncGenerator[dict, None] | None:
        """Resume a call parked on `replica`: its refusal, its messages, or None when that
        replica does not answer (an unknown state)."""
        reply_channel = f"proxy:rounds:reply:{secrets.token_urlsafe(12)}"
        replies = await self._bus.subscribe(reply_channel)
        try:
            heard = await self._bus.publish(
                _rounds_channel(replica), orjson.dumps({"retry": retry, "reply": reply_channel})
            )
        except SwitchboardError as exc:
            logger.info("could not hand a retry to replica %s: %s", replica, exc.message)
            heard = 0
        first = await _next(replies, ACCEPT_TIMEOUT_S) if heard else None
        if first is None or not first.get("accepted"):
            await replies.close()
            refusal = first.get("refused") if first is not None else None
            return refusal if isinstance(refusal, dict) else None
        return _relayed(replies, retry.get("id"))

    async def _listen(self, subscription: Subscription, resume_here: ResumeHere) -> None:
        async with subscription:
            async for message in subscription:
                if message.resync:
                    continue  # a retry lost meanwhile is refused at its replica (no answer in time)
                try:
                    body = orjson.loads(message.payload)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(body, dict) and isinstance(body.get("retry"), dict):
                    reply = str(body.get("reply", ""))
                    task = asyncio.create_task(
                        self._resume(body["retry"], reply, resume_here), name="relayed input round"
                    )
                    self._resumptions.add(task)
                    task.add_done_callback(self._resumptions.discard)

    async def _resume(self, retry: dict, reply: str, resume_here: ResumeHere) -> None:
        try:
            await self._relay_resumed(retry, reply, resume_here)
        except Exception:  # a task's top: nothing else would hear of it
            logger.exception("a relayed input round failed")

    async def _relay_resumed(self, retry: dict, reply: str, resume_here: ResumeHere) -> None:
        outcome = await resume_here(retry)
        if isinstance(outcome, dict):
            await self._tell(reply, {"refused": outcome})
            return
        # The call goes on even if nobody hears this: its first message finds out.
        await self._tell(reply, {"accepted": True})
        messages = aiter(outcome)
        try:
            while True:
                step = asyncio.ensure_future(anext(messages, None))
                while not (await asyncio.wait({step}, timeout=TICK_S))[0]:
                    if not await self._tell(reply, {"tick": True}):
                        step.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await step
                        return
                message = step.result()
                if message is None:
                    await self._tell(reply, {"end": True})
                    return
                if not await self._tell(reply, {"message": message}):
                    return  # the client went away
        finally:
            await outcome.aclose()

    async def _tell(self, channel: str, body: dict) -> bool:
        """Whether the replica relaying the call heard it."""
        try:
            return await self._bus.publish(channel, orjson.dumps(body)) > 0
        except SwitchboardError as exc:
            logger.info("could not relay a resumed call: %s", exc.message)
            return False

    async def close(self) -> None:
        tasks = [t for t in (self._listener, *self._resumptions) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _next(replies: Subscription, timeout_s: float) -> dict | None:
    """The next reply, or None when none comes in time or some were lost."""
    try:
        async with asyncio.timeout(timeout_s):
            message = await anext(replies)
    except (TimeoutError, StopAsyncIteration):
        return None
    if message.resync:
        return None
    try:
        body = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


async def _relayed(replies: Subscription, client_id) -> AsyncGenerator[dict, None]:
    """The resumed call's messages as its holder sends them, until the end."""
    try:
        while True:
            body = await _next(replies, SILENCE_S)
            if body is None:
                yield jsonrpc.error(
                    client_id, jsonrpc.INTERNAL_ERROR, "the replica holding the call stopped answering"
                )
                return
            if body.get("end"):
                return
            if isinstance(body.get("message"), dict):
                yield body["message"]
    finally:
        await replies.close()
