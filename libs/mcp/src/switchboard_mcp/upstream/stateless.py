"""Talking to an upstream that serves only the stateless revision (2026-07-28).

No initialize and no session: `connect()` asks `server/discover` what the upstream
serves and offers; every request then carries the envelope in `params._meta`
(protocol version, client info, client capabilities) and mirrors its method (and
the name it acts on) in the `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name`
headers, as the official SDK's server requires. Answers are JSON, or SSE carrying
progress and log messages before the response.

The rest of the gateway speaks 2025-11-25, so answers are read back into that era:
the per-hop fields of a 2026 result (`resultType: "complete"`, the cache hints, the
`serverInfo` stamp) are dropped and everything else is kept; a `ping` is a
`server/discover`; capabilities name no `logging` (log messages are asked per
request at this revision). `resources/subscribe` and `resources/unsubscribe`,
gone at this revision, change the resources the `subscriptions/listen` stream
asks updates of (reopening it), so the updates arrive on `listen()`.

An upstream that needs the client's input answers `input_required` with the
requests it would have sent (sampling, elicitation, roots). Here they become what
a 2025 server sends mid-call: JSON-RPC requests on the call's stream, each
answered through `send`; once all are answered the call is retried with the
answers and the upstream's `requestState`, on the same stream, until a final
result comes. The client capabilities given are declared in every envelope, so
the upstream asks only what the client behind the gateway can answer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp
import orjson
from switchboard_core.errors import InvalidInput, UpstreamError, UpstreamUnavailable

from switchboard_mcp import input_required, jsonrpc, sse, versions
from switchboard_mcp.stateless_wire import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    METHOD_HEADER,
    NAME_BEARING_METHODS,
    NAME_HEADER,
    PROTOCOL_VERSION_HEADER,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    encode_header_value,
)
from switchboard_mcp.upstream.conveniences import UpstreamConveniences
from switchboard_mcp.upstream.errors import UpstreamRPCError
from switchboard_mcp.upstream.stateless_shapes import (
    as_session_era,
    is_sse,
    mutual,
    session_era_capabilities,
    without_subscription_id,
)

CLIENT_INFO = {"name": "switchboard", "version": "0.1.0"}

# subscriptions/listen filter field -> the capability that must list changes for it.
_LISTEN_FILTERS = {
    "toolsListChanged": "tools",
    "promptsListChanged": "prompts",
    "resourcesListChanged": "resources",
}
_ACCEPT = "application/json, text/event-stream"
_SUBSCRIPTION_METHODS = ("resources/subscribe", "resources/unsubscribe")


def refuses_handshake(error: UpstreamRPCError) -> bool:
    """Whether an upstream's answer to `initialize` says it serves a stateless revision
    instead (the SDK's `-32022` with `data.supported` naming such a version)."""
    if error.code != UNSUPPORTED_PROTOCOL_VERSION or not isinstance(error.rpc_data, dict):
        return False
    supported = error.rpc_data.get("supported")
    return isinstance(supported, list) and any(v in versions.STATELESS for v in supported)


class StatelessUpstream(UpstreamConveniences):
    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        answer_wait_s: float = 300.0,  # unused: a 2026-07-28 upstream never waits on the client mid-call
        client_capabilities: dict | None = None,
        ids: Iterator[int] | None = None,
    ) -> None:
        self.url = url
        self._http = http
        self._base_headers = {"accept": _ACCEPT, "content-type": "application/json", **(headers or {})}
        self._timeout_s = timeout_s
        # A streamed exchange may run long; it fails when the upstream goes silent.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        self._client_capabilities = client_capabilities or {}
        self._ids = ids or itertools.count(1)
        self._lock = asyncio.Lock()
        self._discovered = False
        # Our request id -> its open response, closed to cancel the request.
        self._inflight: dict[Any, aiohttp.ClientResponse] = {}
        self._cancelled: set[Any] = set()
        # The id of a request we put on a call's stream (from an input_required
        # answer) -> where the client's answer to it goes.
        self._awaiting: dict[str, asyncio.Future[dict]] = {}
        # Our request id -> the wait for answers, cancelled to cancel the request.
        self._answer_waits: dict[Any, asyncio.Future] = {}
        # Resources subscribed to, and the listen stream carrying their updates.
        self._resources: set[str] = set()
        self._listening: aiohttp.ClientResponse | None = None
        self._reopen = False
        self.server_info: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.protocol_version = ""

    async def connect(self) -> None:
        """Ask `server/discover` now rather than on the first request."""
        await self._ensure_discovered()

    def next_id(self) -> int:
        return next(self._ids)

    async def request(
        self, method: str, params: dict | None = None, *, extra_headers: Mapping[str, str] | None = None
    ) -> Any:
        await self._ensure_discovered()
        if method == "ping":
            await self._request("server/discover", None, extra_headers)
            return {}
        if method in _SUBSCRIPTION_METHODS:
            return self._resubscribe(method, params)
        return await self._request(method, params, extra_headers)

    async def stream(
        self,
        request_id: int,
        method: str,
        params: dict | None,
        *,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict]:
        """Every message the upstream sends while answering one request, as it arrives:
        progress and log messages and requests for input first, the response to
        `request_id` last."""
        await self._ensure_discovered()
        if method in _SUBSCRIPTION_METHODS:
            yield jsonrpc.result(request_id, self._resubscribe(method, params))
            return
        retry_params = params
        for round_ in range(1, input_required.MAX_ROUNDS + 2):
            final: dict | None = None
            async for message in self._exchange(request_id, method, retry_params, extra_headers):
                if "method" in message:
                    yield message
                else:
                    final = message
            asked = input_required.asked(final)
            if asked is None:
                yield as_session_era(final)
                return
            if round_ > input_required.MAX_ROUNDS:
                break
            requests, state = asked
            if not requests:
                # State only: the upstream is working on something; ask again shortly.
                await asyncio.sleep(min(0.05 * 2 ** (round_ - 1), 0.25))
                answers: dict | None = None
            else:
                ids = {f"input-{request_id}-{round_}-{key}": key for key in requests}
                waits = {our_id: asyncio.get_running_loop().create_future() for our_id in ids}
                for our_id, key in ids.items():
                    self._awaiting[our_id] = waits[our_id]
                    yield jsonrpc.request(our_id, requests[key]["method"], requests[key].get("params") or {})
                try:
                    answers = await self._answers(request_id, ids, waits)
                except UpstreamRPCError as exc:
                    yield jsonrpc.error(request_id, exc.code, exc.message, exc.rpc_data)
                    return
            retry_params = input_required.retry_params(params, answers, state)
        yield jsonrpc.error(
            request_id,
            jsonrpc.INTERNAL_ERROR,
            f"upstream {self.url} still asked for input after {input_required.MAX_ROUNDS} rounds",
        )

    async def listen(self, opened: asyncio.Event | None = None) -> AsyncIterator[dict]:
        """What the upstream announces on a `subscriptions/listen` stream: the list
        changes its capabilities say it announces, and updates of the resources
        subscribed to, until it ends the stream (reopened, unseen by the caller, when
        the subscriptions change). Ends at once when there is nothing to hear.
        `opened` is set once the stream is acknowledged (or known not to come)."""
        try:
            await self._ensure_discovered()
            while True:
                wanted = self._listen_filter()
                if not wanted:
                    return
                self._reopen = False
                try:
                    async for message in self._listen_once(wanted, opened):
                        yield message
                except aiohttp.ClientError as exc:
                    if not self._reopen:
                        raise UpstreamUnavailable(
                            f"upstream {self.url} dropped its listen stream: {exc}"
                        ) from exc
                if not self._reopen:
                    return
        finally:
            if opened is not None:
                opened.set()

    def _listen_filter(self) -> dict:
        wanted: dict[str, Any] = {
            field: True
            for field, kind in _LISTEN_FILTERS.items()
            if isinstance(self.capabilities.get(kind), dict) and self.capabilities[kind].get("listChanged")
        }
        if self._resources:
            wanted["resourceSubscriptions"] = sorted(self._resources)
        return wanted

    async def _listen_once(self, wanted: dict, opened: asyncio.Event | None) -> AsyncIterator[dict]:
        request_id = self.next_id()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s)
        body, headers = self._envelope(request_id, "subscriptions/listen", {"notifications": wanted}, None)
        async with self._http.post(self.url, data=body, headers=headers, timeout=timeout) as response:
            if response.status != 200 or not is_sse(response):
                return
            self._listening = response
            try:
                decoder = sse.Decoder()
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        if event.event != "message" or not event.data:
                            continue
                        message = orjson.loads(event.data)
                        if not isinstance(message, dict) or "method" not in message:
                            return  # the listen result: the upstream ended the stream
                        if message["method"] == "notifications/subscriptions/acknowledged":
                            if opened is not None:
                                opened.set()
                            continue
                        yield without_subscription_id(message)
            finally:
                self._listening = None

    def _resubscribe(self, method: str, params: dict | None) -> dict:
        """`resources/(un)subscribe`, which this revision carries on the listen stream:
        the filter changes and an open stream is reopened with it."""
        uri = (params or {}).get("uri")
        if not isinstance(uri, str):
            raise InvalidInput(f"{method} needs a resource uri")
        if method == "resources/subscribe":
            self._resources.add(uri)
        else:
            self._resources.discard(uri)
        if self._listening is not None:
            self._reopen = True
            self._listening.close()
        return {}

    async def send(self, message: dict, *, extra_headers: Mapping[str, str] | None = None) -> None:
        """Deliver a notification. A cancellation closes the request's own response
        stream, which is how this revision cancels."""
        if "method" not in message:
            waiting = self._awaiting.pop(message.get("id"), None)
            if waiting is not None:
                if not waiting.done():
                    waiting.set_result(message)
                return
            raise UpstreamError(
                f"upstream {self.url} is not waiting for an answer to request {message.get('id')!r}"
            )
        if message["method"] == "notifications/cancelled":
            self._cancel((message.get("params") or {}).get("requestId"))
            return
        await self._ensure_discovered()
        headers = {**self._base_headers, PROTOCOL_VERSION_HEADER: self.protocol_version}
        headers[METHOD_HEADER] = message["method"]
        if extra_headers:
            headers.update(extra_headers)
        try:
            async with self._http.post(
                self.url,
                data=orjson.dumps(message),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        if status >= 400:
            raise UpstreamError(f"upstream {self.url} refused a {message['method']}: HTTP {status}")

    async def close(self) -> None:
        for request_id in list(self._inflight):
            self._cancel(request_id)

    # -- exchanges -----------------------------------------------------------

    async def _ensure_discovered(self) -> None:
        if self._discovered:
            return
        async with self._lock:
            if not self._discovered:
                await self._discover()
                self._discovered = True

    async def _discover(self) -> None:
        self.protocol_version = versions.STATELESS[0]
        try:
            found = await self._request("server/discover", None, None)
        except UpstreamRPCError as exc:
            # Named a stateless version of ours other than the one offered: offer that once.
            offered = mutual(
                (exc.rpc_data or {}).get("supported") if isinstance(exc.rpc_data, dict) else None
            )
            if exc.code != UNSUPPORTED_PROTOCOL_VERSION or not offered or offered == self.protocol_version:
                raise
            self.protocol_version = offered
            found = await self._request("server/discover", None, None)
        if not isinstance(found, dict) or not isinstance(found.get("supportedVersions"), list):
            raise UpstreamError(
                f"{self.url} answered server/discover without supportedVersions: not an MCP server"
            )
        chosen = mutual(found["supportedVersions"])
        if chosen is None:
            raise UpstreamError(
                f"upstream {self.url} serves {', '.join(map(str, found['supportedVersions']))}, "
                f"none of which the gateway speaks statelessly ({', '.join(versions.STATELESS)})"
            )
        self.protocol_version = chosen
        self.server_info = found.get("serverInfo") or {}
        self.capabilities = session_era_capabilities(found.get("capabilities"))

    async def _request(self, method: str, params: dict | None, extra: Mapping[str, str] | None) -> Any:
        request_id = self.next_id()
        final: dict | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                async for message in self._exchange(request_id, method, params, extra):
                    final = message
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} timed out after {self._timeout_s:g}s") from exc
        if method == "server/discover" and final is not None and isinstance(final.get("result"), dict):
            # The identity rides the discover result's stamp, which reading it back drops.
            stamp = (final["result"].get("_meta") or {}).get(SERVER_INFO_META_KEY)
            final = as_session_era(final)
            if isinstance(stamp, dict) and isinstance(final.get("result"), dict):
                final["result"]["serverInfo"] = stamp
        else:
            final = as_session_era(final or {})
        if "error" in final:
            err = final["error"] or {}
            raise UpstreamRPCError(
                err.get("code", jsonrpc.INTERNAL_ERROR), err.get("message", ""), err.get("data")
            )
        return final.get("result")

    async def _exchange(
        self, request_id: int, method: str, params: dict | None, extra: Mapping[str, str] | None
    ) -> AsyncIterator[dict]:
        """The raw messages of one POST: notifications, then the response last."""
        if request_id in self._inflight:
            raise InvalidInput(f"request id {request_id!r} is already waiting for an answer from {self.url}")
        body, headers = self._envelope(request_id, method, params, extra)
        try:
            async with self._http.post(
                self.url, data=body, headers=headers, timeout=self._stream_timeout
            ) as response:
                self._inflight[request_id] = response
                if not is_sse(response):
                    yield await self._single_message(response, request_id)
                    return
                decoder = sse.Decoder()
                async for chunk in response.content.iter_any():
                    for event in decoder.feed(chunk):
                        if event.event != "message" or not event.data:
                            continue
                        message = orjson.loads(event.data)
                        if not isinstance(message, dict):
                            continue
                        if "method" not in message and message.get("id") == request_id:
                            yield message
                            return
                        if "method" in message and "id" not in message:
                            yield message
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} went silent for {self._timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            if request_id in self._cancelled:
                raise UpstreamError(f"{method} to {self.url} was cancelled") from exc
            raise UpstreamUnavailable(
                f"upstream {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"upstream {self.url} sent an event that is not JSON") from exc
        finally:
            self._inflight.pop(request_id, None)
            cancelled = request_id in self._cancelled
            self._cancelled.discard(request_id)
        if cancelled:
            raise UpstreamError(f"{method} to {self.url} was cancelled")
        raise UpstreamError(f"upstream {self.url} ended its stream without answering {method}")

    async def _single_message(self, response: aiohttp.ClientResponse, request_id: int) -> dict:
        is_json = "json" in response.headers.get("content-type", "")
        if response.status == 202 or (response.status >= 400 and not is_json):
            raise UpstreamError(f"upstream {self.url} answered HTTP {response.status}")
        body = await response.read()
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                f"upstream {self.url} did not answer like an MCP server (HTTP {response.status})"
            ) from exc
        if not isinstance(message, dict) or ("result" not in message and "error" not in message):
            raise UpstreamError(f"upstream {self.url} sent no response to request {request_id}")
        return {**message, "id": request_id}

    def _envelope(
        self, request_id: int, method: str, params: dict | None, extra: Mapping[str, str] | None
    ) -> tuple[bytes, dict[str, str]]:
        params = dict(params or {})
        meta = params.get("_meta")
        params["_meta"] = {
            **(meta if isinstance(meta, dict) else {}),
            PROTOCOL_VERSION_META_KEY: self.protocol_version,
            CLIENT_INFO_META_KEY: CLIENT_INFO,
            CLIENT_CAPABILITIES_META_KEY: self._client_capabilities,
        }
        try:
            body = jsonrpc.dumps(jsonrpc.request(request_id, method, params))
        except orjson.JSONEncodeError as exc:
            raise InvalidInput(
                f"{method} cannot be forwarded: its params nest deeper than 254 levels"
            ) from exc
        headers = {**self._base_headers, **(extra or {})}
        headers[PROTOCOL_VERSION_HEADER] = self.protocol_version
        headers[METHOD_HEADER] = method
        name_key = NAME_BEARING_METHODS.get(method)
        if name_key is not None and isinstance(name := params.get(name_key), str):
            headers[NAME_HEADER] = encode_header_value(name)
        return body, headers

    async def _answers(self, request_id: Any, ids: dict[str, str], waits: dict[str, asyncio.Future]) -> dict:
        """The client's answers to the requests `ids` names (our id -> the upstream's key)."""
        everything = asyncio.gather(*waits.values())
        self._answer_waits[request_id] = everything
        try:
            responses = await everything
        except asyncio.CancelledError:
            if request_id in self._cancelled:
                self._cancelled.discard(request_id)
                raise UpstreamError(f"a call to {self.url} was cancelled while it waited for input") from None
            raise
        finally:
            self._answer_waits.pop(request_id, None)
            for our_id in ids:
                self._awaiting.pop(our_id, None)
        answers = {}
        for our_id, response in zip(ids, responses, strict=True):
            if "result" not in response:
                error = response.get("error") or {}
                raise UpstreamRPCError(
                    error.get("code", jsonrpc.INTERNAL_ERROR),
                    error.get("message", "the client refused the upstream's request"),
                    error.get("data"),
                )
            answers[ids[our_id]] = response["result"]
        return answers

    def _cancel(self, request_id: Any) -> None:
        waiting = self._answer_waits.get(request_id)
        if waiting is not None:
            self._cancelled.add(request_id)
            waiting.cancel()
            return
        response = self._inflight.get(request_id)
        if response is not None:
            self._cancelled.add(request_id)
            response.close()
