"""A small upstream MCP server for the registry tests, run as a subprocess.

    python upstream_app.py <listening socket fd> <server name>

Serves Streamable HTTP at `/mcp` on the inherited socket. Tools: `echo`, `add`, and
`grow(name)`, which adds a tool called `name` so a refresh has something to find.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvicorn
from mcp.server import MCPServer


def build(name: str) -> MCPServer:
    server = MCPServer(name)

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Add a tool with this name.")
    def grow(name: str) -> str:
        def grown() -> str:
            return name

        server.add_tool(grown, name=name, description=f"Grown tool {name}.")
        return name

    return server


def main() -> None:
    fd, name = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(fileno=fd)
    app = build(name).streamable_http_app()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
