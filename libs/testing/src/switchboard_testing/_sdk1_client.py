"""Run by `sdk_clients.sdk1_list_and_call` under the 1.x MCP SDK, in its own environment.

Not imported by the harness (it needs `mcp<2`). Reads one JSON object from argv[1]
(`url`, `token`, `tool`, `arguments`, `headers`, `transport`), connects over Streamable
HTTP (or the legacy HTTP+SSE transport when `transport` is "sse"), initializes, lists every tool, calls one, and prints one JSON line on stdout:
`{"sdk_version", "protocol_version", "tools", "result"}`.
"""

import asyncio
import json
import sys
from importlib.metadata import version

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client


def connect(url, headers, transport):
    if transport == "sse":
        return sse_client(url, headers=headers)
    return streamablehttp_client(url, headers=headers)


async def list_and_call(url, token, tool, arguments, headers, transport):
    request_headers = dict(headers or {})
    if token:
        request_headers["Authorization"] = f"Bearer {token}"
    async with connect(url, request_headers, transport) as (read, write, *_rest):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            names = []
            cursor = None
            while True:
                page = await session.list_tools(cursor=cursor)
                names += [t.name for t in page.tools]
                cursor = page.nextCursor
                if not cursor:
                    break
            result = await session.call_tool(tool, arguments)
            return {
                "sdk_version": version("mcp"),
                "protocol_version": initialized.protocolVersion,
                "tools": names,
                "result": result.model_dump(by_alias=True, mode="json", exclude_none=True),
            }


def main():
    spec = json.loads(sys.argv[1])
    outcome = asyncio.run(
        list_and_call(
            spec["url"],
            spec.get("token"),
            spec["tool"],
            spec.get("arguments") or {},
            spec.get("headers"),
            spec.get("transport", "streamable-http"),
        )
    )
    sys.stdout.write(json.dumps(outcome) + "\n")


if __name__ == "__main__":
    main()
