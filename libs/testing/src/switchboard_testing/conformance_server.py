"""The conformance fixture: an upstream MCP server exposing what the official conformance
suite (`@modelcontextprotocol/conformance`, server scenarios) expects, under the names it
expects, built with the official SDK and served over Streamable HTTP:

    python -m switchboard_testing.conformance_server --port 9200

serves `http://127.0.0.1:9200/mcp` (and `GET /healthz`). It keeps sessions, answers on SSE
streams (so notifications and server-to-client requests ride the POST stream), and stores
stream events in memory so a client can resume with `Last-Event-ID`. What it offers:

- tools `test_simple_text`, `test_image_content`, `test_audio_content`,
  `test_embedded_resource`, `test_multiple_content_types`, `test_error_handling`,
  `test_tool_with_logging` (three log notifications), `test_tool_with_progress` (three progress
  notifications), `test_sampling(prompt)` (asks the client to sample),
  `test_elicitation(message)`, `test_elicitation_sep1034_defaults`,
  `test_elicitation_sep1330_enums` (ask the client for input), `json_schema_2020_12_tool`
  (a 2020-12 input schema with `$schema`, `$defs`), `test_reconnection` (closes its SSE stream
  mid-call and answers on the resumed stream);
- resources `test://static-text`, `test://static-binary`, `test://watched-resource`, and the
  template `test://template/{id}/data`; `resources/subscribe` and `resources/unsubscribe`;
- prompts `test_simple_prompt`, `test_prompt_with_arguments(arg1, arg2)`,
  `test_prompt_with_embedded_resource(resourceUri)`, `test_prompt_with_image`;
- `completion/complete` (for `test_prompt_with_arguments`) and `logging/setLevel`.

To run it as a child process, see `start_conformance_upstream`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import itertools
import json
import struct
import warnings
import wave
import zlib
from collections import deque
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Audio, Context, Image, UserMessage
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    ContentBlock,
    EmbeddedResource,
    EmptyResult,
    JSONRPCMessage,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from switchboard_testing.conformance import start_conformance_upstream

__all__ = [
    "build_server",
    "build_app",
    "serve",
    "main",
    "start_conformance_upstream",
    "InMemoryEventStore",
    "TOOL_NAMES",
    "RESOURCE_URIS",
    "RESOURCE_TEMPLATES",
    "PROMPT_NAMES",
]

TOOL_NAMES = (
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
    "test_tool_with_logging",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
    "test_reconnection",
)
RESOURCE_URIS = ("test://static-text", "test://static-binary", "test://watched-resource")
RESOURCE_TEMPLATES = ("test://template/{id}/data",)
PROMPT_NAMES = (
    "test_simple_prompt",
    "test_prompt_with_arguments",
    "test_prompt_with_embedded_resource",
    "test_prompt_with_image",
)

# How long the client waits before reconnecting to a stream the server closed (SSE `retry:`).
RETRY_INTERVAL_MS = 500
_STEP_DELAY_S = 0.05


def build_server(*, name: str = "conformance") -> MCPServer:
    """The conformance fixture server with everything the suite's server scenarios call."""
    server = MCPServer(name, version="1.0.0", log_level="WARNING", tools=[_json_schema_2020_12_tool()])
    _add_content_tools(server)
    _add_notifying_tools(server)
    _add_client_request_tools(server)
    _add_resources(server)
    _add_prompts(server)
    _add_completion(server)
    _add_logging_and_subscriptions(server)

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return server


def _add_content_tools(server: MCPServer) -> None:
    @server.tool()
    def test_simple_text() -> str:
        """Returns a simple text response."""
        return "This is a simple text response for testing."

    @server.tool()
    def test_image_content() -> Image:
        """Returns a 1x1 red PNG image."""
        return Image(data=red_pixel_png(), format="png")

    @server.tool()
    def test_audio_content() -> Audio:
        """Returns a short silent WAV clip."""
        return Audio(data=silent_wav(), format="wav")

    @server.tool()
    def test_embedded_resource() -> list[ContentBlock]:
        """Returns an embedded text resource."""
        return [_embedded_text("test://embedded-resource", "This is an embedded resource content.")]

    @server.tool()
    def test_multiple_content_types() -> list[ContentBlock]:
        """Returns text, an image and an embedded resource together."""
        return [
            TextContent(type="text", text="Multiple content types test:"),
            Image(data=red_pixel_png(), format="png").to_image_content(),
            _embedded_text(
                "test://mixed-content-resource",
                json.dumps({"test": "data", "value": 123}),
                mime_type="application/json",
            ),
        ]

    @server.tool()
    def test_error_handling() -> str:
        """Always fails (the result carries isError: true)."""
        raise ToolError("This tool intentionally returns an error for testing")


def _add_notifying_tools(server: MCPServer) -> None:
    @server.tool()
    async def test_tool_with_logging(ctx: Context) -> str:
        """Sends three info log notifications while it runs."""
        for step, message in enumerate(
            ("Tool execution started", "Tool processing data", "Tool execution completed")
        ):
            if step:
                await asyncio.sleep(_STEP_DELAY_S)
            await _log(ctx, "info", message)
        return "Tool with logging executed successfully"

    @server.tool()
    async def test_tool_with_progress(ctx: Context) -> str:
        """Reports progress 0, 50 and 100 of 100 when the caller asked for progress."""
        for step, progress in enumerate((0, 50, 100)):
            if step:
                await asyncio.sleep(_STEP_DELAY_S)
            await ctx.report_progress(progress, 100, f"Completed step {step + 1} of 3")
        return "Tool with progress executed successfully"

    @server.tool()
    async def test_reconnection(ctx: Context) -> str:
        """Closes its SSE stream mid-call; the result arrives once the client resumes it."""
        await asyncio.sleep(_STEP_DELAY_S)
        await ctx.close_sse_stream()
        await asyncio.sleep(_STEP_DELAY_S)
        return "Reconnection test completed successfully"


def _add_client_request_tools(server: MCPServer) -> None:
    @server.tool()
    async def test_sampling(prompt: str, ctx: Context) -> str:
        """Asks the client to sample an LLM completion for the prompt."""
        with warnings.catch_warnings():
            # Sampling is deprecated as of 2026-07-28, and the suite still exercises it.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await ctx.session.create_message(
                messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
                max_tokens=100,
                related_request_id=ctx.request_id,
            )
        text = result.content.text if isinstance(result.content, TextContent) else str(result.content)
        return f"LLM response: {text}"

    @server.tool()
    async def test_elicitation(message: str, ctx: Context) -> str:
        """Asks the client for a username and an email address."""
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
        return f"User response: action={result.action}, content={json.dumps(result.content)}"

    @server.tool()
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        """Asks the client for input with a default for every primitive type (SEP-1034)."""
        return await _elicit(ctx, "Please review and update the form fields with defaults", _SEP1034_SCHEMA)

    @server.tool()
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        """Asks the client to pick from all five enum schema variants (SEP-1330)."""
        return await _elicit(ctx, "Please select options from the enum fields", _SEP1330_SCHEMA)


_SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}

_SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
    "required": [],
}

_JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


def _json_schema_2020_12_tool() -> Tool:
    def json_schema_2020_12_tool(name: str | None = None, address: dict[str, Any] | None = None) -> str:
        """Tool with JSON Schema 2020-12 features"""
        return f"name={name}, address={json.dumps(address)}"

    # The SDK derives schemas from signatures; the suite checks that this exact one survives.
    tool = Tool.from_function(json_schema_2020_12_tool)
    return tool.model_copy(update={"parameters": _JSON_SCHEMA_2020_12})


def _add_resources(server: MCPServer) -> None:
    @server.resource(
        "test://static-text", name="static-text", description="A static text resource", mime_type="text/plain"
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @server.resource(
        "test://static-binary", name="static-binary", description="A static PNG image", mime_type="image/png"
    )
    def static_binary() -> bytes:
        return red_pixel_png()

    @server.resource(
        "test://watched-resource",
        name="watched-resource",
        description="A resource to subscribe to",
        mime_type="text/plain",
    )
    def watched_resource() -> str:
        return "This resource can be watched for updates."

    @server.resource(
        "test://template/{id}/data",
        name="template-data",
        description="Data for the given id",
        mime_type="application/json",
    )
    def template_data(id: str) -> str:
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


def _add_prompts(server: MCPServer) -> None:
    @server.prompt()
    def test_simple_prompt() -> str:
        """A simple prompt without arguments."""
        return "This is a simple prompt for testing."

    @server.prompt()
    def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
        """A prompt with two required arguments."""
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"

    @server.prompt()
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # noqa: N803 (the suite's name)
        """A prompt embedding the resource at resourceUri."""
        return [
            UserMessage(_embedded_text(resourceUri, "Embedded resource content for testing.")),
            UserMessage("Please process the embedded resource above."),
        ]

    @server.prompt()
    def test_prompt_with_image() -> list[UserMessage]:
        """A prompt carrying an image."""
        return [
            UserMessage(Image(data=red_pixel_png(), format="png")),
            UserMessage("Please analyze the image above."),
        ]


_COMPLETIONS = {"arg1": ("paris", "park", "party", "test", "testing"), "arg2": ("world", "word")}


def _add_completion(server: MCPServer) -> None:
    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        candidates = _COMPLETIONS.get(argument.name, ()) if isinstance(ref, PromptReference) else ()
        values = [value for value in candidates if value.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)


def _add_logging_and_subscriptions(server: MCPServer) -> None:
    subscribed: set[str] = set()

    async def set_level(ctx: ServerRequestContext[Any], params: SetLevelRequestParams) -> EmptyResult:
        return EmptyResult()

    async def subscribe(ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
        subscribed.add(str(params.uri))
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams) -> EmptyResult:
        subscribed.discard(str(params.uri))
        return EmptyResult()

    # MCPServer has no decorator for these (logging is deprecated as of 2026-07-28, and
    # resources/subscribe became subscriptions/listen); the low-level server takes them, and
    # advertises the `logging` and `resources.subscribe` capabilities once they are served.
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)


async def _log(ctx: Context, level: str, message: str) -> None:
    with warnings.catch_warnings():
        # Logging is deprecated as of 2026-07-28, and the suite still exercises it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await ctx.log(level, message)  # type: ignore[arg-type]


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> str:
    result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


def _embedded_text(uri: str, text: str, *, mime_type: str = "text/plain") -> EmbeddedResource:
    return EmbeddedResource(
        type="resource", resource=TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    )


@functools.cache
def red_pixel_png() -> bytes:
    """A 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@functools.cache
def silent_wav() -> bytes:
    """A tenth of a second of 8 kHz mono silence as WAV."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(8000)
        clip.writeframes(b"\x00\x00" * 800)
    return buffer.getvalue()


class InMemoryEventStore(EventStore):
    """Keeps the last `max_events` stream events so a client can resume with `Last-Event-ID`."""

    def __init__(self, max_events: int = 10_000) -> None:
        self._events: deque[tuple[str, str, JSONRPCMessage | None]] = deque(maxlen=max_events)
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(next(self._ids))
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        position = next(
            (i for i, (event_id, _, _) in enumerate(self._events) if event_id == last_event_id), None
        )
        if position is None:
            return None
        stream_id = self._events[position][1]
        for event_id, event_stream, message in list(self._events)[position + 1 :]:
            if event_stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def build_app(*, name: str = "conformance") -> Starlette:
    """The ASGI app serving the conformance fixture at `/mcp` (and `/healthz`)."""
    return build_server(name=name).streamable_http_app(
        streamable_http_path="/mcp",
        event_store=InMemoryEventStore(),
        retry_interval=RETRY_INTERVAL_MS,
        host="127.0.0.1",
    )


def serve(*, port: int, name: str = "conformance") -> None:
    """Serve the conformance fixture on 127.0.0.1:`port` until interrupted."""
    uvicorn.run(build_app(name=name), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="MCP conformance fixture server (Streamable HTTP at /mcp).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="conformance", help="server name reported in serverInfo")
    args = parser.parse_args(argv)
    serve(port=args.port, name=args.name)


if __name__ == "__main__":
    main()
