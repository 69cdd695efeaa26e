"""One MCP session with one upstream over Streamable HTTP (2025-03-26 and later).

The session initializes lazily, once, and is shared by every call routed to that
upstream; a 404 (session ended upstream) re-initializes once and retries. Responses
may be JSON or an SSE stream; either way only the response to our request id is
taken.

A session initialized elsewhere (by another gateway replica) can be adopted: given its
`shared_state`, requests carry its `Mcp-Session-Id` and nothing is initialized here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from switchboard_core.errors import InvalidInput, UpstreamError, UpstreamUnavailable
from yarl import URL

from switchboard_mcp import jsonrpc, sse, versions
from switchboard_mcp.upstream.conveniences import UpstreamConveniences
from switchboard_mcp.upstream.errors import NotStreamableHttp, UpstreamRPCError
from switchboard_mcp.upstream.silence import ANSWER_WAIT_S, ClientDidNotAnswer, SilenceLimit

CLIENT_INFO = {"name": "switchboard", "version": "0.1.0"}
_ACCEPT = "application/json, text/event-stream"


class UpstreamSession(UpstreamConveniences):
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
        # Declared to the upstream at initialize: what the client behind us can answer.
        self._client_capabilities = client_capabilities or {}
        self._url = URL(url)
        self._http = http
        self._base_headers = {"accept": _ACCEPT, "content-type": "application/json", **(headers or {})}
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # A streamed exchange may run long; it fails when the upstream goes silent for
        # `timeout_s` while nothing is asked of the client (`SilenceLimit`).
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s)
        # Ids of requests the upstream sent the client mid-call -> the limit of that call's stream.
        self._asking: dict[Any, SilenceLimit] = {}
        # Shared with a sibling transport when the transport is still being chosen.
        self._ids = ids or itertools.count(1)
        self._lock = asyncio.Lock()
        self._session_headers: dict[str, str] | None = None
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.protocol_version = ""
        self._opened_before = False
        # For a session shared with other processes, when it ended upstream: `rejoin` is
        # asked first for one another process opened since (a state to adopt, or None);
        # `on_reopened` is told the state of the one initialized here instead.
        self.rejoin: Callable[[str], Awaitable[dict | None]] | None = None
        self.on_reopened: Callable[[dict], Awaitable[None]] | None = None
        self._gone_session_id = ""

    @property
    def shared_state(self) -> dict | None:
        """What another process needs to speak in this session (`adopt`); None before it
        is initialized, or when the upstream keeps no session (no `Mcp-Session-Id`)."""
        headers = self._session_headers
        if not headers or "mcp-session-id" not in headers:
            return None
        return {
            "session_id": headers["mcp-session-id"],
            "protocol_version": self.protocol_version,
            "capabilities": self.capabilities,
            "server_info": self.server_info,
        }

    def adopt(self, state: dict) -> None:
        """Speak in a session initialized elsewhere (its `shared_state`), without an initialize."""
        self.protocol_version = state["protocol_version"]
        self.capabilities = state.get("capabilities") or {}
        self.server_info = state.get("server_info") or {}
        self._session_headers = {
            **self._base_headers,
            "mcp-protocol-version": self.protocol_version,
            "mcp-session-id": state["session_id"],
        }
        self._opened_before = True

    async def connect(self) -> None:
        """Initialize now rather than on the first request; `NotStreamableHttp` when the
        URL answers the initialize POST with 404/405 (a legacy HTTP+SSE server, perhaps)."""
        await self._ensure_session()

    async def request(
        self, method: str, params: dict | None = None, *, extra_headers: Mapping[str, str] | None = None
    ) -> Any:
        headers = await self._ensure_session()
        try:
            return await self._exchange(method, params, headers, extra_headers)
        except _SessionGone:
            self._session_ended_upstream(headers.get("mcp-session-id", ""))
            headers = await self._ensure_session()
            return await self._exchange(method, params, headers, extra_headers)

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
        """Every message the upstream sends while answering one request, as it arrives:
        notifications and requests of its own first, the response to `request_id` last."""
        try:
            msg = jsonrpc.dumps(jsonrpc.request(request_id, method, params))
        except orjson.JSONEncodeError as exc:
            raise InvalidInput(
                f"{method} cannot be forwarded: its params nest deeper than 254 levels"
            ) from exc
        limit = SilenceLimit(self._timeout_s, self._answer_wait_s)
        asked: list = []
        try:
            async with self._open_stream(msg, extra_headers) as response:
                if response.status >= 400 and "json" not in response.headers.get("content-type", ""):
                    raise UpstreamError(f"upstream {self.url} answered HTTP {response.status}")
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    body = await limit.wait(response.read())
                    yield self._single_message(body, response.status)
                    return
                decoder = sse.Decoder()
                while chunk := await limit.wait(response.content.readany()):
                    for event in decoder.feed(chunk):
                        if event.event != "message" or not event.data:
                            continue
                        message = orjson.loads(event.data)
                        if _is_request(message):
                            # Until the client answers, the upstream may rightly say nothing.
                            limit.asked(message["id"])
                            self._asking[message["id"]] = limit
                            asked.append(message["id"])
                        yield message
                        if (
                            isinstance(message, dict)
                            and message.get("id") == request_id
                            and "method" not in message
                        ):
                            return
        finally:
            for upstream_id in asked:
                if self._asking.get(upstream_id) is limit:
                    del self._asking[upstream_id]
        raise UpstreamError(f"upstream {self.url} ended its stream without answering {method}")

    async def listen(self, opened: asyncio.Event | None = None) -> AsyncIterator[dict]:
        """Messages the upstream sends on its own (the GET stream): resource updates,
        list changes, log messages, requests. Ends when the upstream closes it or offers
        none (405). `opened` is set once the stream is open (or known not to be)."""
        timeout = aiohttp.ClientTimeout(total=None)
        try:
            headers = {**await self._ensure_session(), "accept": "text/event-stream"}
            async with self._http.get(self._url, headers=headers, timeout=timeout) as response:
                if opened is not None:
                    opened.set()
                if response.status != 200:
                    return
                decoder = sse.Decoder()
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        if event.event == "message" and event.data:
                            yield orjson.loads(event.data)
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} dropped its event stream: {exc}") from exc
        finally:
            if opened is not None:
                opened.set()

    async def send(self, message: dict, *, extra_headers: Mapping[str, str] | None = None) -> None:
        """Deliver a notification or a response (to a request of the upstream's) to it."""
        limit = self._asking.pop(message.get("id"), None) if "method" not in message else None
        try:
            headers = await self._ensure_session()
            response = await self._post(message, {**headers, **extra_headers} if extra_headers else headers)
        finally:
            if limit is not None:
                limit.answered(message.get("id"))
        if response.status >= 400:
            raise UpstreamError(
                f"upstream {self.url} refused a {message.get('method', 'response')}: HTTP {response.status}"
            )

    @contextlib.asynccontextmanager
    async def _open_stream(self, body: bytes, extra: Mapping[str, str] | None):
        """The response to a POST whose answer may stream; what reads it may raise
        TimeoutError (silence) or aiohttp's errors, told as the upstream being unavailable."""
        for attempt in (1, 2):
            headers = await self._ensure_session()
            if extra:
                headers = {**headers, **extra}
            try:
                async with asyncio.timeout(self._timeout_s):
                    r = await self._http.post(
                        self._url, data=body, headers=headers, timeout=self._stream_timeout
                    )
            except TimeoutError as exc:
                raise UpstreamUnavailable(
                    f"upstream {self.url} timed out after {self._timeout_s:g}s"
                ) from exc
            except aiohttp.ClientError as exc:
                raise UpstreamUnavailable(
                    f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
                ) from exc
            async with r:
                if r.status == 404 and "mcp-session-id" in headers and attempt == 1:
                    self._session_ended_upstream(headers["mcp-session-id"])
                    continue
                try:
                    yield r
                except ClientDidNotAnswer as exc:
                    raise UpstreamUnavailable(f"upstream {self.url}: {exc}") from exc
                except TimeoutError as exc:
                    raise UpstreamUnavailable(
                        f"upstream {self.url} went silent for {self._timeout_s:g}s"
                    ) from exc
                except aiohttp.ClientError as exc:
                    raise UpstreamUnavailable(
                        f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
                    ) from exc
                return

    def _single_message(self, body: bytes, status: int) -> dict:
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"upstream {self.url} did not answer like an MCP server (HTTP {status})"
            ) from exc
        if not isinstance(message, dict):
            raise UpstreamError(f"upstream {self.url} answered with a JSON-RPC batch, not one response")
        return message

    async def close(self) -> None:
        headers, self._session_headers = self._session_headers, None
        if headers and "mcp-session-id" in headers:
            try:
                async with self._http.delete(
                    self._url, headers=headers, timeout=aiohttp.ClientTimeout(total=2.0)
                ):
                    pass
            except (aiohttp.ClientError, TimeoutError):
                pass

    async def _ensure_session(self) -> dict[str, str]:
        if self._session_headers is not None:
            return self._session_headers
        async with self._lock:
            if self._session_headers is None and not await self._rejoined():
                self._session_headers = await self._initialize()
                reopened, self._opened_before = self._opened_before, True
                if reopened and self.on_reopened is not None and (state := self.shared_state):
                    await self.on_reopened(state)
        return self._session_headers

    def _session_ended_upstream(self, session_id: str) -> None:
        """The upstream answered 404 to `session_id` (unless a concurrent call has already
        moved on to another session)."""
        current = self._session_headers
        if current is not None and current.get("mcp-session-id", "") == session_id:
            self._session_headers = None
            self._gone_session_id = session_id

    async def _rejoined(self) -> bool:
        """Whether another process opened the session again since it ended (adopted then)."""
        if self.rejoin is None or not self._gone_session_id:
            return False
        state = await self.rejoin(self._gone_session_id)
        if state is None or state.get("session_id") in (None, self._gone_session_id):
            return False
        self.adopt(state)
        return True

    async def _initialize(self) -> dict[str, str]:
        params = {
            "protocolVersion": versions.LATEST,
            "capabilities": self._client_capabilities,
            "clientInfo": CLIENT_INFO,
        }
        msg = jsonrpc.request(next(self._ids), "initialize", params)
        response = await self._post(msg, self._base_headers)
        if response.status in (404, 405):
            raise NotStreamableHttp(f"upstream {self.url} answered initialize with HTTP {response.status}")
        init = self._read_result(response, msg["id"])
        if not isinstance(init, dict) or "protocolVersion" not in init:
            raise UpstreamError(
                f"{self.url} answered initialize without a protocolVersion: not an MCP server"
            )
        self.protocol_version = init["protocolVersion"]
        self.server_info = init.get("serverInfo") or {}
        self.capabilities = init.get("capabilities") or {}
        headers = dict(self._base_headers)
        headers["mcp-protocol-version"] = self.protocol_version
        if session_id := response.headers.get("mcp-session-id"):
            headers["mcp-session-id"] = session_id
        await self._post(jsonrpc.notification("notifications/initialized"), headers)
        return headers

    async def _exchange(
        self, method: str, params: dict | None, headers: dict[str, str], extra: Mapping[str, str] | None
    ) -> Any:
        msg = jsonrpc.request(next(self._ids), method, params)
        response = await self._post(msg, {**headers, **extra} if extra else headers)
        if response.status == 404 and "mcp-session-id" in headers:
            raise _SessionGone
        return self._read_result(response, msg["id"])

    async def _post(self, msg: dict, headers: Mapping[str, str]) -> _Response:
        try:
            async with self._http.post(
                self._url, data=orjson.dumps(msg), headers=headers, timeout=self._timeout
            ) as r:
                return _Response(r.status, r.headers, await r.read())
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} timed out after {self._timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc

    def _read_result(self, response: _Response, id_: int) -> Any:
        if response.status >= 400 and not response.content:
            raise UpstreamError(f"upstream {self.url} answered HTTP {response.status}")
        content_type = response.headers.get("content-type", "")
        try:
            if content_type.startswith("text/event-stream"):
                messages = [orjson.loads(data) for data in sse.iter_data(response.content)]
            else:
                messages = [orjson.loads(response.content)]
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"upstream {self.url} did not answer like an MCP server (HTTP {response.status}, {content_type or 'no content type'})"
            ) from exc
        for message in messages:
            if isinstance(message, dict) and message.get("id") == id_ and "method" not in message:
                if "error" in message:
                    err = message["error"] or {}
                    raise UpstreamRPCError(
                        err.get("code", jsonrpc.INTERNAL_ERROR), err.get("message", ""), err.get("data")
                    )
                return message.get("result")
        raise UpstreamError(f"upstream {self.url} sent no response to request {id_} (HTTP {response.status})")


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: CIMultiDictProxy[str]
    content: bytes


def _is_request(message: object) -> bool:
    return isinstance(message, dict) and "method" in message and message.get("id") is not None


class _SessionGone(Exception):
    pass
