"""The SSE streams of a Streamable HTTP session, written through its event logs so
that each can be resumed (`Last-Event-ID`) on a later GET.

A streamed reply is pumped into its log by a task of its own: if the client goes
away, the exchange with the upstream still completes (a disconnection is not a
cancellation) and the rest waits in the log for the client to come back.
"""

from __future__ import annotations

import asyncio
import contextlib

from switchboard_core.errors import SwitchboardError, status_of
from switchboard_mcp import jsonrpc

from switchboard_proxy.event_log import GET_STREAM, StreamLog
from switchboard_proxy.event_mirror import EventMirror
from switchboard_proxy.forward import Relay
from switchboard_proxy.http_replies import KEEPALIVE, KEEPALIVE_S, SSE_HEADERS, wait_for_disconnect
from switchboard_proxy.session_relay import SessionRelay
from switchboard_proxy.sessions import Session

# Versions whose clients expect a priming event (an id, no data) opening each stream.
_PRIMED_FROM = "2025-11-25"


async def stream_reply(relay: Relay, client_id, session: Session, receive, send) -> None:
    log = session.events.open_reply_stream()
    pump = asyncio.create_task(_pump(relay, client_id, log), name=f"reply stream {log.stream_id}")
    session.pumps.add(pump)
    pump.add_done_callback(session.pumps.discard)
    await _open(send, log, session)
    await _follow(log, 0, receive, send)


async def stream_session(
    session: Session,
    last_event_id: str | None,
    receive,
    send,
    mirror: EventMirror | None = None,
    relay: SessionRelay | None = None,
) -> None:
    """The GET stream: a resumed stream (replay after the last event seen, then live),
    or the session's own stream of messages that belong to no request. A stream
    another replica wrote is resumed from its mirror in Redis."""
    found = session.events.find(last_event_id) if last_event_id else None
    if found is not None and found[0].stream_id != session.events.get_stream_id:
        log, seq = found
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        return await _follow(log, seq, receive, send)
    if found is None and last_event_id and mirror is not None:
        stream_id, _, seq = last_event_id.rpartition(":")
        if seq.isdigit() and await mirror.exists(session.id, stream_id):
            if not stream_id.startswith(GET_STREAM):
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                return await _follow_mirror(mirror, session.id, stream_id, int(seq), receive, send)
            # Another replica's GET stream: what the client missed there, then this one's.
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            missed = [e async for e in _mirrored_so_far(mirror, session.id, stream_id, int(seq))]
            for event in missed:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            return await _stream_own(session, None, receive, send, relay, opened=True)
    return await _stream_own(session, found[1] if found is not None else None, receive, send, relay)


async def _stream_own(
    session: Session, seq: int | None, receive, send, relay: SessionRelay | None, *, opened: bool = False
) -> None:
    log = session.events.get_stream()
    seq = seq if seq is not None else log.last_seq
    session.streams_here += 1
    # What other replicas have for this stream comes while it is open here.
    elsewhere = await relay.feed(session) if relay is not None else None
    feeder = asyncio.create_task(_drain_outbox(session, log), name="session outbox")
    try:
        if not opened:
            await _open(send, log, session)
        await _follow(log, seq, receive, send)
    finally:
        session.streams_here -= 1
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        if elsewhere is not None:
            await relay.unfeed(elsewhere)


async def _mirrored_so_far(mirror: EventMirror, session_id: str, stream_id: str, seq: int):
    async for event in mirror.follow(session_id, stream_id, seq):
        if event is None:
            return
        yield event


async def _follow_mirror(
    mirror: EventMirror, session_id: str, stream_id: str, seq: int, receive, send
) -> None:
    """Another replica's stream from its mirror: replay, then live until it is closed."""
    gone = asyncio.create_task(wait_for_disconnect(receive))
    events = mirror.follow(session_id, stream_id, seq)
    try:
        while not gone.done():
            step = asyncio.ensure_future(anext(events, _END))
            await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await step
                break
            event = step.result()
            if event is _END:
                break
            await send({"type": "http.response.body", "body": event or KEEPALIVE, "more_body": True})
    except OSError:
        return
    finally:
        gone.cancel()
        await events.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


_END = object()


async def _open(send, log: StreamLog, session: Session) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    if session.protocol_version >= _PRIMED_FROM:
        await send({"type": "http.response.body", "body": log.priming_event(), "more_body": True})


async def _pump(relay: Relay, client_id, log: StreamLog) -> None:
    try:
        async for message in relay:
            log.append(message)
    except SwitchboardError as exc:
        log.append(jsonrpc.error(client_id, status_of(exc)[2], exc.message))
    finally:
        log.close()


async def _drain_outbox(session: Session, log: StreamLog) -> None:
    while True:
        log.append(await session.outbox.get())


async def _follow(log: StreamLog, seq: int, receive, send) -> None:
    """Send the log's events after `seq` as they come, until the log is closed and all
    is sent, or the client goes away."""
    gone = asyncio.create_task(wait_for_disconnect(receive))
    try:
        while True:
            waiter = log.changed()
            for n, event in log.after(seq):
                await send({"type": "http.response.body", "body": event, "more_body": True})
                seq = n
            if log.closed and not log.after(seq):
                break
            if waiter.done():
                continue  # appended while the last events were being sent
            await asyncio.wait({waiter, gone}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                waiter.cancel()
                if gone.done():
                    break
                await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
    except OSError:
        return
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})
