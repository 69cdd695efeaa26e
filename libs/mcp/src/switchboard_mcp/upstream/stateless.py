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
`server/discover`; capabilities name no `resources.subscribe` and no `logging`,
which have no requests at this revision. The upstream cannot send requests of its
own here, so nothing can be answered to it (`send` of a response fails), and a
result asking for input (`input_required`) becomes an error.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp
import orjson
from switchboard_core.errors import InvalidInput, UpstreamError, UpstreamUnavailable

from switchboard_mcp import jsonrpc, sse, versions
from switchboard_mcp.stateless_wire import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    METHOD_HEADER,
    NAME_BEARING_METHODS,
    NAME_HEADER,
    PROTOCOL_VERSION_HEADER,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    SUBSCRIPTION_ID_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from switchboard_mcp.upstream.conveniences import UpstreamConveniences
from switchboard_mcp.upstream.errors import UpstreamRPCError

CLIENT_INFO = {"name": "switchboard", "version": "0.1.0"}

# Result fields that describe the 2026 hop, not the answer.
_HOP_RESULT_FIELDS = ("ttlMs", "cacheScope")
# subscriptions/listen filter field -> the capability that must list changes for it.
_LISTEN_FILTERS = {
    "toolsListChanged": "tools",
    "promptsListChanged": "prompts",
    "resourcesListChanged": "resources",
}
_ACCEPT = "application/json, text/event-stream"


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
        client_capabilities: dict | None = None,
        ids: Iterator[int] | None = None,
    ) -> None:
        self.url = url
        self._http = http
        self._base_headers = {"accept": _ACCEPT, "content-type": "application/json", **(headers or {})}
        self._timeout_s = timeout_s
        # A streamed exchange may run long; it fails when the upstream goes silent.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        # The client behind us cannot be asked anything at this revision (no
        # input_required round trips are relayed), so none of its capabilities are declared.
        del client_capabilities
        self._ids = ids or itertools.count(1)
        self._lock = asyncio.Lock()
        self._discovered = False
        # Our request id -> its open response, closed to cancel the request.
        self._inflight: dict[Any, aiohttp.ClientResponse] = {}
        self._cancelled: set[Any] = set()
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
        progress and log messages first, the response to `request_id` last."""
        await self._ensure_discovered()
        async for message in self._exchange(request_id, method, params, extra_headers):
            yield as_session_era(message) if "method" not in message else message

    async def listen(self, opened: asyncio.Event | None = None) -> AsyncIterator[dict]:
        """The list changes the upstream announces (a `subscriptions/listen` stream for
        the kinds its capabilities say change), until it ends the stream. Ends at once
        when it announces none. `opened` is set once the stream is acknowledged (or
        known not to come)."""
        try:
            await self._ensure_discovered()
            wanted = {
                field: True
                for field, kind in _LISTEN_FILTERS.items()
                if isinstance(self.capabilities.get(kind), dict)
                and self.capabilities[kind].get("listChanged")
            }
            if not wanted:
                return
            request_id = self.next_id()
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout_s)
            body, headers = self._envelope(
                request_id, "subscriptions/listen", {"notifications": wanted}, None
            )
            async with self._http.post(self.url, data=body, headers=headers, timeout=timeout) as response:
                if response.status != 200 or not _is_sse(response):
                    return
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
                        yield _without_subscription_id(message)
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"upstream {self.url} dropped its listen stream: {exc}") from exc
        finally:
            if opened is not None:
                opened.set()

    async def send(self, message: dict, *, extra_headers: Mapping[str, str] | None = None) -> None:
        """Deliver a notification. A cancellation closes the request's own response
        stream, which is how this revision cancels."""
        if "method" not in message:
            raise UpstreamError(
                f"upstream {self.url} speaks {self.protocol_version or 'a stateless revision'}, "
                "where it sends no requests: there is nothing to answer"
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
            mutual = _mutual(
                (exc.rpc_data or {}).get("supported") if isinstance(exc.rpc_data, dict) else None
            )
            if exc.code != UNSUPPORTED_PROTOCOL_VERSION or not mutual or mutual == self.protocol_version:
                raise
            self.protocol_version = mutual
            found = await self._request("server/discover", None, None)
        if not isinstance(found, dict) or not isinstance(found.get("supportedVersions"), list):
            raise UpstreamError(
                f"{self.url} answered server/discover without supportedVersions: not an MCP server"
            )
        chosen = _mutual(found["supportedVersions"])
        if chosen is None:
            raise UpstreamError(
                f"upstream {self.url} serves {', '.join(map(str, found['supportedVersions']))}, "
                f"none of which the gateway speaks statelessly ({', '.join(versions.STATELESS)})"
            )
        self.protocol_version = chosen
        self.server_info = found.get("serverInfo") or {}
        self.capabilities = _session_era_capabilities(found.get("capabilities"))

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
                if not _is_sse(response):
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
            CLIENT_CAPABILITIES_META_KEY: {},
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

    def _cancel(self, request_id: Any) -> None:
        response = self._inflight.get(request_id)
        if response is not None:
            self._cancelled.add(request_id)
            response.close()


def as_session_era(message: dict) -> dict:
    """A 2026-07-28 response read as a 2025-11-25 one: the per-hop fields dropped; a
    result asking for input, which cannot be relayed, turned into an error."""
    result = message.get("result")
    if not isinstance(result, dict):
        return message
    kind = result.get("resultType", "complete")
    if kind != "complete":
        return jsonrpc.error(
            message.get("id"),
            jsonrpc.INTERNAL_ERROR,
            f"the upstream answered with a {kind!r} result, which the gateway cannot relay",
        )
    shaped = {k: v for k, v in result.items() if k != "resultType" and k not in _HOP_RESULT_FIELDS}
    meta = shaped.get("_meta")
    if isinstance(meta, dict) and SERVER_INFO_META_KEY in meta:
        rest = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
        if rest:
            shaped["_meta"] = rest
        else:
            del shaped["_meta"]
    return {**message, "result": shaped}


def _session_era_capabilities(capabilities: Any) -> dict[str, Any]:
    if not isinstance(capabilities, dict):
        return {}
    shaped = {k: v for k, v in capabilities.items() if k != "logging"}
    resources = shaped.get("resources")
    if isinstance(resources, dict) and "subscribe" in resources:
        shaped["resources"] = {k: v for k, v in resources.items() if k != "subscribe"}
    return shaped


def _mutual(supported: Any) -> str | None:
    """The newest stateless version of ours that `supported` names."""
    if not isinstance(supported, list):
        return None
    return next((v for v in versions.STATELESS if v in supported), None)


def _is_sse(response: aiohttp.ClientResponse) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def _without_subscription_id(message: dict) -> dict:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) or SUBSCRIPTION_ID_META_KEY not in meta:
        return message
    rest = {k: v for k, v in meta.items() if k != SUBSCRIPTION_ID_META_KEY}
    params = {k: v for k, v in params.items() if k != "_meta"}
    if rest:
        params["_meta"] = rest
    shaped = {k: v for k, v in message.items() if k != "params"}
    if params:
        shaped["params"] = params
    return shaped


_HEADER_SAFE = re.compile(r"^[\x20-\x7E]*$")
_B64_SENTINEL = re.compile(r"^=\?base64\?.*\?=$")


def encode_header_value(value: str) -> str:
    """A value as the `Mcp-Name` header carries it: verbatim when it is printable ASCII
    without edge whitespace, else UTF-8 in an `=?base64?...?=` sentinel."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _B64_SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="
