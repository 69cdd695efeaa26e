"""Drive a Streamable HTTP MCP endpoint with the official SDK clients, returning plain data.

Both functions list every tool and call one, and return
`{"protocol_version": str, "tools": [names], "result": <CallToolResult as wire JSON>}`:

- `sdk2_list_and_call` runs the 2.x SDK (`mcp.Client`) in this process;
- `sdk1_list_and_call` runs the 1.x SDK (`mcp>=1.20,<2`) in a separate environment made
  by `uv run --no-project --with ...` (uv caches it after the first run), so the same
  endpoint is checked against the clients most users have installed today.

The bearer token is sent as an `Authorization` header on every HTTP request.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from importlib.resources import as_file, files
from typing import Any, Literal

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from switchboard_testing.errors import SdkClientError

SDK1_REQUIREMENT = "mcp>=1.20,<2"
SDK1_TIMEOUT_S = 300.0  # the first run resolves and installs the 1.x SDK
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=120.0)


def _request_headers(token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = dict(headers or {})
    if token:
        merged["Authorization"] = f"Bearer {token}"
    return merged


async def sdk2_list_and_call(
    url: str,
    token: str | None,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    mode: Literal["auto", "legacy"] = "auto",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """List tools and call `tool` with the 2.x `mcp.Client` (`mode` "auto" probes, "legacy" initializes)."""
    async with httpx2.AsyncClient(headers=_request_headers(token, headers), timeout=_HTTP_TIMEOUT) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            names: list[str] = []
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor)
                names += [t.name for t in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
            result = await client.call_tool(tool, dict(arguments))
            return {
                "protocol_version": client.protocol_version,
                "tools": names,
                "result": result.model_dump(by_alias=True, mode="json", exclude_none=True),
            }


def sdk1_list_and_call(
    url: str,
    token: str | None,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    transport: Literal["streamable-http", "sse"] = "streamable-http",
) -> dict[str, Any]:
    """List tools and call `tool` with the 1.x SDK in a subprocess (over Streamable HTTP, or the
    legacy HTTP+SSE transport with `transport="sse"`); raise `SdkClientError` with its stderr."""
    spec = json.dumps(
        {
            "url": url,
            "token": token,
            "tool": tool,
            "arguments": dict(arguments),
            "headers": dict(headers or {}),
            "transport": transport,
        }
    )
    # The child must resolve its own environment, never this project's venv (mcp 2.x).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    with (
        as_file(files("switchboard_testing") / "_sdk1_client.py") as script,
        tempfile.TemporaryDirectory() as cwd,
    ):
        command = ["uv", "run", "--no-project", "--with", SDK1_REQUIREMENT, "python", str(script), spec]
        try:
            completed = subprocess.run(
                command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SDK1_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SdkClientError(
                f"the 1.x SDK client timed out after {SDK1_TIMEOUT_S}s:\n{exc.stderr}"
            ) from exc
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise SdkClientError(
            f"the 1.x SDK client failed with status {completed.returncode}\n"
            f"--- stderr ---\n{completed.stderr}\n--- stdout ---\n{completed.stdout}"
        )
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise SdkClientError(f"the 1.x SDK client printed no JSON result:\n{completed.stdout}") from exc
