"""A small upstream MCP server for the registry tests, run as a subprocess.

    python upstream_app.py <listening socket fd> <server name>

Serves Streamable HTTP at `/mcp` on the inherited socket. Tools: `echo`, `add`, and
`grow(name, kind)`, which adds a tool (or prompt, resource, resource template) so a
refresh has something to find. It also offers the resource `memo://<server>/readme`,
the resource template `memo://<server>/notes/{topic}` and the prompt `greet(who)`.
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

    @server.tool(description="Add a tool, prompt ('prompt'), resource ('resource', by URI) or template.")
    def grow(name: str, kind: str = "tool") -> str:
        def grown() -> str:
            return name

        if kind == "prompt":
            server.prompt(name=name, description=f"Grown prompt {name}.")(grown)
        elif kind == "resource":
            server.resource(name, name="grown", description=f"Grown resource {name}.")(grown)
        elif kind == "template":
            server.resource(name, name="grown-template")(lambda topic: topic)
        else:
            server.add_tool(grown, name=name, description=f"Grown tool {name}.")
        return name

    @server.resource(
        f"memo://{name}/readme", name="readme", description=f"About {name}.", mime_type="text/plain"
    )
    def readme() -> str:
        return f"This is {name}."

    @server.resource(f"memo://{name}/notes/{{topic}}", name="note", description="A note on a topic.")
    def note(topic: str) -> str:
        return f"Notes on {topic}."

    @server.prompt(description="Greet someone.")
    def greet(who: str) -> str:
        return f"Say hello to {who}."

    return server


def main() -> None:
    fd, name = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(fileno=fd)
    app = build(name).streamable_http_app()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
