"""One MCP session with one upstream over the legacy HTTP+SSE transport (2024-11-05).

The upstream keeps one GET stream open for the whole session. Its first event names
the endpoint to POST messages to; every POST is merely accepted (202), and every
answer comes back on the stream, matched to its request by id. What the upstream
sends on its own (requests, log messages, list changes) goes to `listen()`ers;
progress notifications go to the exchange whose progress token they carry.

Nothing says which call a request of the upstream's belongs to, so while any is
unanswered no streamed exchange of the session counts the upstream's silence against
it (`SilenceLimit`): a human may be answering.

The stream ending ends the session: requests waiting on it fail, and the next request
opens a new one (a new GET, a new initialize).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
from switchboard_core.errors import InvalidInput, UpstreamError, UpstreamUnavailable

from switchboard_mcp import jsonrpc, sse, versions
from switchboard_mcp.upstream.conveniences import UpstreamConveniences
from switchboard_mcp.upstream.errors import UpstreamRPCError
from switchboard_mcp.upstream.silence import ANSWER_WAIT_S, ClientDidNotAnswer, SilenceLimit

CLIENT_INFO = {"name": "switchboard", "version": "0.1.0"}
_QUEUE_LIMIT = 1000


class _StreamEnded:
    """Put in every waiting queue when the upstream's stream ends."""

    def __init__(self, error: UpstreamUnavailable) -> None:
        self.error = error


class LegacySseSession(UpstreamConveniences):
    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        answer_wait_s: float = ANSWER_WAIT_S,
        client_capabilities: dict | None = None,
        ids: Iterator[int] | None = None,
    ) -> None:
        self.url = url
        self._answer_wait_s = answer_wait_s
        self._http = http
        self._headers = dict(headers or {})
        self._timeout_s = timeout_s
        self._client_capabilities = client_capabilities or {}
        self._ids = ids or itertools.count(1)
        self._lock = asyncio.Lock()
        self._endpoint: str | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._reader: asyncio.Task | None = None
        # Our request id -> the queue of the exchange waiting for its answer.
        self._waiting: dict[Any, asyncio.Queue] = {}
        # A progress token -> the queue of the exchange that asked for progress.
        self._progress: dict[Any, asyncio.Queue] = {}
        self._listeners: set[asyncio.Queue] = set()
        # Ids of requests the upstream sent (to the client), not answered yet.
        self._asked: set[Any] = set()
        # The silence limits of the streamed exchanges under way.
        self._limits: set[SilenceLimit] = set()
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.protocol_version = ""

    # -- the interface shared with UpstreamSession ----------------------------

    async def connect(self) -> None:
        """Open the stream and initialize now rather than on the first request."""
        await self._ensure_open()

    async def request(
        self, method: str, params: dict | None = None, *, extra_headers: Mapping[str, str] | None = None
    ) -> Any:
        await self._ensure_open()
        return await self._request(method, params, extra_headers)

    def next_id(self) -> int:
        return next(self._ids)

    async def stream(
        self,
        request_id: int,
        method: str,
        params: dict | None,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict]:
        """The messages of one exchange: progress for it first, the response last."""
        await self._ensure_open()
        queue = self._expect(request_id, params)
        limit = SilenceLimit(self._timeout_s, self._answer_wait_s)
        for asked in self._asked:
            limit.asked(asked)
        self._limits.add(limit)
        try:
            await self._post(jsonrpc.request(request_id, method, params), extra_headers)
            while True:
                message = await self._next(queue, method, limit)
                yield message
                if "method" not in message:
                    return
        finally:
            self._limits.discard(limit)
            self._forget(request_id, queue)

    async def listen(self, opened: asyncio.Event | None = None) -> AsyncIterator[dict]:
        """What the upstream sends on its own, until its stream ends."""
        queue: asyncio.Queue = asyncio.Queue(_QUEUE_LIMIT)
        try:
            await self._ensure_open()
            self._listeners.add(queue)
            if opened is not None:
                opened.set()
            while True:
                message = await queue.get()
                if isinstance(message, _StreamEnded):
                    return
                yield message
        finally:
            self._listeners.discard(queue)
            if opened is not None:
                opened.set()

    async def send(self, message: dict, *, extra_headers: Mapping[str, str] | None = None) -> None:
        """Deliver a notification or a response (to a request of the upstream's) to it."""
        await self._ensure_open()
        answered = message.get("id") if "method" not in message else None
        try:
            await self._post(message, extra_headers)
        finally:
            if answered is not None and answered in self._asked:
                self._asked.discard(answered)
                for limit in self._limits:
                    limit.answered(answered)

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._drop_stream()

    # -- the stream ----------------------------------------------------------

    async def _ensure_open(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        async with self._lock:
            if self._reader is None or self._reader.done():
                await self._open()

    async def _open(self) -> None:
        self._drop_stream()
        headers = {**self._headers, "accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s)
        try:
            response = await self._http.get(self.url, headers=headers, timeout=timeout)
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        self._response = response
        if response.status != 200 or not response.headers.get("content-type", "").startswith(
            "text/event-stream"
        ):
            self._drop_stream()
            raise UpstreamError(f"upstream {self.url} answered HTTP {response.status}, not an SSE stream")
        decoder = sse.Decoder()
        try:
            pending = await asyncio.wait_for(self._read_endpoint(response, decoder), self._timeout_s)
        except TimeoutError as exc:
            self._drop_stream()
            raise UpstreamUnavailable(f"upstream {self.url} named no message endpoint") from exc
        except (aiohttp.ClientError, UpstreamError):
            self._drop_stream()
            raise
        self._reader = asyncio.create_task(self._read(response, decoder, pending), name=f"sse {self.url}")
        try:
            await self._initialize()
        except BaseException:
            await self.close()
            raise

    async def _read_endpoint(self, response: aiohttp.ClientResponse, decoder: sse.Decoder) -> list:
        """The endpoint to POST to, from the first events; the events after it, kept."""
        async for chunk in response.content.iter_any():
            events = decoder.feed(chunk)
            for index, event in enumerate(events):
                if event.event == "endpoint":
                    self._endpoint = self._resolve(event.data.decode().strip())
                    return events[index + 1 :]
        raise UpstreamError(f"upstream {self.url} closed its stream before naming a message endpoint")

    def _resolve(self, endpoint: str) -> str:
        url = urljoin(self.url, endpoint)
        if urlsplit(url)[:2] != urlsplit(self.url)[:2]:
            raise UpstreamError(f"upstream {self.url} named a message endpoint elsewhere: {url}")
        return url

    async def _read(self, response: aiohttp.ClientResponse, decoder: sse.Decoder, pending: list) -> None:
        reason = "closed"
        try:
            for event in pending:
                self._route(event)
            async for chunk in response.content.iter_any():
                for event in decoder.feed(chunk):
                    self._route(event)
        except aiohttp.ClientError as exc:
            reason = f"dropped: {exc or type(exc).__name__}"
        finally:
            ended = _StreamEnded(UpstreamUnavailable(f"upstream {self.url} {reason} its event stream"))
            for queue in (*self._waiting.values(), *self._listeners):
                _offer(queue, ended)

    def _route(self, event: sse.Event) -> None:
        if event.event != "message" or not event.data:
            return
        try:
            message = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return
        for one in message if isinstance(message, list) else [message]:
            if isinstance(one, dict):
                self._deliver(one)

    def _deliver(self, message: dict) -> None:
        if "method" not in message:
            queue = self._waiting.get(message.get("id"))
            if queue is not None:
                _offer(queue, message)
            return
        if message["method"] == "notifications/progress":
            queue = self._progress.get((message.get("params") or {}).get("progressToken"))
            if queue is not None:
                _offer(queue, message)
                return
        if message.get("id") is not None:
            self._asked.add(message["id"])
            for limit in self._limits:
                limit.asked(message["id"])
        for listener in self._listeners:
            _offer(listener, message)

    def _drop_stream(self) -> None:
        response, self._response = self._response, None
        self._asked.clear()  # whatever the upstream asked died with its stream
        self._endpoint = None
        if response is not None:
            response.close()

    # -- exchanges -----------------------------------------------------------

    async def _initialize(self) -> None:
        params = {
            "protocolVersion": versions.LATEST,
            "capabilities": self._client_capabilities,
            "clientInfo": CLIENT_INFO,
        }
        init = await self._request("initialize", params, None)
        if not isinstance(init, dict) or "protocolVersion" not in init:
            raise UpstreamError(
                f"{self.url} answered initialize without a protocolVersion: not an MCP server"
            )
        self.protocol_version = init["protocolVersion"]
        self.server_info = init.get("serverInfo") or {}
        self.capabilities = init.get("capabilities") or {}
        await self._post(jsonrpc.notification("notifications/initialized"), None)

    async def _request(self, method: str, params: dict | None, extra: Mapping[str, str] | None) -> Any:
        request_id = self.next_id()
        queue = self._expect(request_id, params)
        try:
            await self._post(jsonrpc.request(request_id, method, params), extra)
            async with asyncio.timeout(self._timeout_s):
                while "method" in (message := await self._next(queue, method)):
                    pass
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} timed out after {self._timeout_s:g}s") from exc
        finally:
            self._forget(request_id, queue)
        if "error" in message:
            err = message["error"] or {}
            raise UpstreamRPCError(
                err.get("code", jsonrpc.INTERNAL_ERROR), err.get("message", ""), err.get("data")
            )
        return message.get("result")

    def _expect(self, request_id: Any, params: dict | None) -> asyncio.Queue:
        if request_id in self._waiting:
            raise InvalidInput(f"request id {request_id!r} is already waiting for an answer from {self.url}")
        queue: asyncio.Queue = asyncio.Queue(_QUEUE_LIMIT)
        self._waiting[request_id] = queue
        token = ((params or {}).get("_meta") or {}).get("progressToken")
        if token is not None:
            self._progress[token] = queue
        return queue

    def _forget(self, request_id: Any, queue: asyncio.Queue) -> None:
        if self._waiting.get(request_id) is queue:
            del self._waiting[request_id]
        for token in [t for t, q in self._progress.items() if q is queue]:
            del self._progress[token]

    async def _next(self, queue: asyncio.Queue, method: str, limit: SilenceLimit | None = None) -> dict:
        """The next message of an exchange; fails when the upstream goes silent or away."""
        try:
            message = await (limit or SilenceLimit(self._timeout_s, self._answer_wait_s)).wait(queue.get())
        except ClientDidNotAnswer as exc:
            raise UpstreamUnavailable(f"upstream {self.url}: {exc}") from exc
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} went silent for {self._timeout_s:g}s") from exc
        if isinstance(message, _StreamEnded):
            raise message.error
        return message

    async def _post(self, message: dict, extra: Mapping[str, str] | None) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            raise UpstreamUnavailable(f"upstream {self.url} has no open event stream")
        try:
            body = orjson.dumps(message)
        except orjson.JSONEncodeError as exc:
            raise InvalidInput(
                f"{message.get('method', 'a response')} cannot be forwarded: it nests deeper than 254 levels"
            ) from exc
        headers = {**self._headers, "content-type": "application/json"}
        if extra:
            headers.update(extra)
        try:
            async with self._http.post(
                endpoint, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout_s)
            ) as response:
                status = response.status
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} timed out after {self._timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        if status == 404:
            # The upstream forgot the session: the stream is worth nothing now.
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.cancel()
            self._drop_stream()
            raise UpstreamUnavailable(f"upstream {self.url} no longer knows this session")
        if status >= 400:
            raise UpstreamError(
                f"upstream {self.url} refused a {message.get('method', 'response')}: HTTP {status}"
            )


def _offer(queue: asyncio.Queue, item: Any) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(item)
