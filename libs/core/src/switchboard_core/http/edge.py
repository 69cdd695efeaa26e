"""What every HTTP request meets first: a request id, and bounds on what it may carry.

`RequestIds` wraps the whole app, the raw MCP routes included. Each request gets an id:
a sane `X-Request-Id` it came with (nginx sends one), else a new one. Every response
carries it back in `X-Request-Id`; every answer of 500 or more is logged with it, once,
with the traceback where there is one (`log_failure`); and a failure nothing answered is
answered 500 with the id in the body, so an operator can find the log line from what a
client shows them.

`InputBounds` guards the REST routes (the MCP endpoints bound their own messages,
`SWITCHBOARD_MAX_MESSAGE_BYTES`): a body over the limit is refused with 413 as it
streams in, with or without a Content-Length, before it is read whole; a body that has
not arrived whole within the body timeout of its first read is refused with 408 (the
header timeout ends with the header: without this a client trickling its body, before
any token is looked at, held the connection for as long as it liked); and a NUL
character anywhere (path, query, JSON body) is refused with 422 before it can reach a
database (Postgres text cannot hold one).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from contextvars import ContextVar

import orjson

from switchboard_core.errors import TooLarge

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
# A request id a client or proxy sends is kept if it is this short and of these characters.
_MAX_INBOUND_ID = 128
_ID_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 30.0
# New ids are this process's random prefix and a counter: unique across replicas and
# restarts, and a fraction of a microsecond to make (no system call per request).
_ID_PREFIX = os.urandom(8).hex().encode()
_ids = itertools.count(1)


class RequestMark:
    """The request being served: its id, whether its failure was logged already, and
    the status its answer began with (0 before; layers inside read it rather than
    wrapping `send` again)."""

    __slots__ = ("raw", "logged", "status")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.logged = False
        self.status = 0

    @property
    def id(self) -> str:
        return self.raw.decode()


_current: ContextVar[RequestMark | None] = ContextVar("switchboard_request", default=None)


def request_id() -> str:
    """The id of the request being served ("" outside `RequestIds`)."""
    mark = _current.get()
    return mark.id if mark is not None else ""


def log_failure(log: logging.Logger, message: str, *args: object, exc: BaseException | None = None) -> None:
    """Log what turned a request into a 5xx, with its request id; once per request."""
    mark = _current.get()
    if mark is not None:
        if mark.logged:
            return
        mark.logged = True
        message, args = f"{message} (request id %s)", (*args, mark.id)
    log.error(message, *args, exc_info=exc)


def current_mark() -> RequestMark | None:
    """The request being served, inside `RequestIds`."""
    return _current.get()


def logged_elsewhere() -> None:
    """The 5xx this request is about to answer is expected and logged where it arose (a
    readiness probe's 503: readiness logs when a dependency goes and comes back), not here."""
    mark = _current.get()
    if mark is not None:
        mark.logged = True


def _inbound_id(headers) -> bytes | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if 0 < len(value) <= _MAX_INBOUND_ID and not value.translate(None, _ID_CHARACTERS):
                return value
            return None
    return None


class RequestIds:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # Made as bytes, decoded only where a log line or an error body needs it.
        mark = RequestMark(_inbound_id(scope["headers"]) or b"%s%016x" % (_ID_PREFIX, next(_ids)))
        header = (REQUEST_ID_HEADER, mark.raw)
        ended = False

        async def sending(message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                mark.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        token = _current.set(mark)
        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            log_failure(logger, "%s %s failed", scope.get("method"), scope.get("path"), exc=exc)
            if mark.status and not ended:
                raise  # an answer cut off halfway: the server must end the connection
            if not mark.status:
                await _answer(sending, 500, internal_error_body())
            return
        finally:
            _current.reset(token)
        if mark.status >= 500 and not mark.logged:
            logger.error(
                "%s %s answered %d (request id %s)",
                scope.get("method"),
                scope.get("path"),
                mark.status,
                mark.id,
            )


def internal_error_body() -> dict:
    rid = request_id()
    return {
        "error": "InternalError",
        "detail": f"internal error; the gateway's log has its details under request id {rid}",
        "request_id": rid,
    }


async def _answer(send, status: int, payload: dict) -> None:
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_NUL_ESCAPE = b"\\u0000"
_NUL_MESSAGE = "NUL characters are not accepted"


def _nul_refusal(where: str) -> dict:
    # The shape of FastAPI's own 422 (`HTTPValidationError`), as for any other invalid field.
    return {"detail": [{"type": "string_nul", "loc": [where], "msg": _NUL_MESSAGE}]}


class InputBounds:
    """At most `max_body_bytes` of body, arrived within `body_timeout_s` of its first read,
    and no NUL character in what a REST request carries."""

    def __init__(
        self,
        app,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit
        if _declared_length(scope["headers"]) > limit:
            return await _answer(send, 413, _too_large(limit))
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            return await _answer(send, 422, _nul_refusal("path" if "\x00" in scope["path"] else "query"))
        received = 0
        tail = b""
        answered = False
        deadline = 0.0

        async def bounded() -> dict:
            nonlocal received, tail, answered, deadline
            if answered or deadline < 0:
                return await receive()  # refused, or the body is in: nothing more to time
            if not deadline:
                deadline = asyncio.get_running_loop().time() + self.body_timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                answered = True
                await _answer(send, 408, _too_slow(self.body_timeout_s))
                return {"type": "http.disconnect"}
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            refusal = None
            if received > limit:
                refusal = (413, _too_large(limit))
            elif _NUL_ESCAPE in tail + chunk[: len(_NUL_ESCAPE)] or _NUL_ESCAPE in chunk:
                refusal = (422, _nul_refusal("body"))
            if refusal is None:
                tail = (tail + chunk)[-(len(_NUL_ESCAPE) - 1) :]
                if not message.get("more_body", False):
                    deadline = -1.0  # what the app asks later (a disconnect) is not the body
                return message
            # Answered here, before the rest is read; the app is told the client left.
            answered = True
            await _answer(send, *refusal)
            return {"type": "http.disconnect"}

        async def sending(message) -> None:
            if not answered:
                await send(message)

        try:
            await self.app(scope, bounded, sending)
        except Exception:
            # What the app raises reading a body it was refused is no failure of the app.
            if not answered:
                raise


def _declared_length(headers) -> int:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _too_slow(timeout_s: float) -> dict:
    return {
        "error": "RequestTimeout",
        "detail": f"request body not received whole within {timeout_s:g} s (SWITCHBOARD_HTTP_BODY_TIMEOUT_S)",
    }


def _too_large(limit: int) -> dict:
    # The shape of every error the app answers (`http.app.error_body`).
    return {
        "error": TooLarge.__name__,
        "detail": f"request body over {limit} bytes (SWITCHBOARD_MAX_BODY_BYTES)",
    }
