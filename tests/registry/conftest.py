"""Fixtures for the registry tests: real upstream MCP servers, a started registry, its APIs."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from switchboard.auth.v1 import auth_pb2
from switchboard.registry.v1 import registry_pb2_grpc
from switchboard_auth import AuthSettings
from switchboard_core.audit import AuditEvent
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.errors import Unauthenticated
from switchboard_core.grpc import Channels, build_server
from switchboard_core.http.app import create_app
from switchboard_core.policy import BUILTIN_ROLES, Membership
from switchboard_core.principals import Principal
from switchboard_core.service import Runtime
from switchboard_mcp.upstream import UpstreamSession
from switchboard_mcp.upstream.pool import new_http_client
from switchboard_registry import RegistryService, RegistrySettings
from switchboard_registry.domain.registry import Registry
from switchboard_registry.store import audit_outbox
from switchboard_testing.auth_service import ADMIN_EMAIL, ADMIN_PASSWORD, Auth
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.outbound import LOOPBACK_ALLOWED, OUTBOUND_ALLOW

UPSTREAM_APP = Path(__file__).with_name("upstream_app.py")
ADMIN = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")
# As auth makes every user: administering a personal team of their own.
USER = Principal(
    "u-user",
    "user@example.com",
    False,
    ("team-user",),
    "t-user",
    2**40,
    memberships=(Membership("team-user", "team_admin", BUILTIN_ROLES["team_admin"]),),
    personal_team_id="team-user",
)
TOKENS = {"admin-token": ADMIN, "user-token": USER}


@dataclass
class Upstream:
    """An MCP server (tests/registry/upstream_app.py) in its own process."""

    name: str
    url: str
    process: subprocess.Popen

    async def grow(self, name: str, kind: str = "tool", *, announce: int = 0) -> None:
        """Make the upstream list one more tool (or "prompt", "resource" by URI, "template"),
        then tell every open session `announce` times that the list changed."""
        async with new_http_client(policy=LOOPBACK_ALLOWED) as http:
            session = UpstreamSession(self.url, http, timeout_s=10)
            try:
                await session.call_tool("grow", {"name": name, "kind": kind, "announce": announce})
            finally:
                await session.close()

    async def asked(self, method: str) -> int:
        """How many requests of `method` the upstream has been sent."""
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            response = await client.get(self.url.removesuffix("/mcp") + "/asked", params={"method": method})
            return response.json()

    async def listening(self) -> int:
        """How many GET streams are open at the upstream."""
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            return (await client.get(self.url.removesuffix("/mcp") + "/listening")).json()


def _spawn(name: str, port: int = 0) -> Upstream:
    # The listening socket is handed to the child, so connections made before it
    # serves wait in the backlog instead of failing.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        port = sock.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, str(UPSTREAM_APP), str(sock.fileno()), name], pass_fds=[sock.fileno()]
        )
    return Upstream(name, f"http://127.0.0.1:{port}/mcp", process)


def _wait_serving(upstream: Upstream) -> None:
    with httpx.Client(trust_env=False, timeout=30) as client:
        client.get(upstream.url)  # any answer means it serves


def _stop(upstream: Upstream) -> None:
    upstream.process.terminate()
    upstream.process.wait(timeout=10)


@pytest.fixture(scope="session")
def upstreams() -> Iterator[dict[str, Upstream]]:
    """Two upstreams, `alpha` and `beta`, each with the tools echo, add and grow, the
    resource `memo://<name>/readme`, the template `memo://<name>/notes/{topic}` and the
    prompt greet."""
    started = {name: _spawn(name) for name in ("alpha", "beta")}
    try:
        for upstream in started.values():
            _wait_serving(upstream)
        yield started
    finally:
        for upstream in started.values():
            _stop(upstream)


@pytest.fixture
def alpha(upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams["alpha"]


@pytest.fixture
def beta(upstreams: dict[str, Upstream]) -> Upstream:
    return upstreams["beta"]


@pytest.fixture
def growing_upstream() -> Iterator[Upstream]:
    """An upstream of this test's own, free to gain tools, prompts and resources."""
    upstream = _spawn("growing")
    try:
        _wait_serving(upstream)
        yield upstream
    finally:
        _stop(upstream)


class RestartableUpstream:
    """An upstream on a port of its own that a test may stop and start again there."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._running: Upstream | None = _spawn(name)
        self.port = httpx.URL(self._running.url).port
        self.url = self._running.url
        _wait_serving(self._running)

    def stop(self) -> None:
        if self._running is not None:
            _stop(self._running)
            self._running = None

    def start(self) -> None:
        if self._running is None:
            self._running = _spawn(self.name, self.port)
            _wait_serving(self._running)


@pytest.fixture
def restartable_upstream() -> Iterator[RestartableUpstream]:
    """An upstream `flaky` (the same tools as `alpha`) that `stop()` and `start()` take down and bring back."""
    upstream = RestartableUpstream("flaky")
    try:
        yield upstream
    finally:
        upstream.stop()


# Capabilities the hand-written MCP servers below advertise, by path.
_EVERYTHING = {"tools": {}, "resources": {}, "prompts": {}}
_ADVERTISED = {"/tools-only": {"tools": {}}, "/half-implemented": _EVERYTHING, "/scripted": _EVERYTHING}
_ONLY_TOOL = {"name": "only", "description": "The only tool.", "inputSchema": {"type": "object"}}
_LISTS = {
    "tools/list": "tools",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
    "prompts/list": "prompts",
}


class _NotMCP(BaseHTTPRequestHandler):
    """Plain HTTP servers, and MCP servers cut to the bone.

    `/html` answers like a web site; `/rpc-error` answers every request with a
    JSON-RPC error. `/tools-only` advertises and lists one tool and nothing else;
    `/half-implemented` advertises resources and prompts too but answers their lists
    with "method not found"; `/scripted` lists whatever the server's `script` holds
    (list key → items). Every JSON-RPC method asked for is appended to the server's
    `methods` list.
    """

    server: _RecordingServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/rpc-error":
            request = json.loads(body)
            self._reply(request, error={"code": -32601, "message": "no MCP here"})
        elif self.path in _ADVERTISED:
            self._mcp(json.loads(body))
        else:
            self._send(404, "text/html", b"<html><body><h1>Not Found</h1></body></html>")

    def _mcp(self, request: dict) -> None:
        method = request.get("method")
        self.server.methods.append(method)
        if "id" not in request:
            self._send(202, "application/json", b"")
        elif method == "initialize":
            result = {
                "protocolVersion": request["params"]["protocolVersion"],
                "capabilities": _ADVERTISED[self.path],
                "serverInfo": {"name": self.path.strip("/"), "version": "1"},
            }
            self._reply(request, result=result)
        elif self.path == "/scripted" and method in _LISTS:
            key = _LISTS[method]
            self._reply(request, result={key: self.server.script.get(key, [])})
        elif method == "tools/list":
            self._reply(request, result={"tools": [_ONLY_TOOL]})
        else:
            self._reply(request, error={"code": -32601, "message": f"method not found: {method}"})

    def _reply(self, request: dict, *, result: dict | None = None, error: dict | None = None) -> None:
        reply = {"jsonrpc": "2.0", "id": request.get("id")}
        reply.update({"result": result} if error is None else {"error": error})
        self._send(200, "application/json", json.dumps(reply).encode())

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, "text/html", b"<html><body><h1>Not Found</h1></body></html>")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        # A client that wanted only the status (an event stream it is not offered) may be gone.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _NotMCP)
        self.methods: list[str] = []
        self.script: dict[str, list[dict]] = {}


@pytest.fixture(scope="session")
def plain_http() -> Iterator[_RecordingServer]:
    server = _RecordingServer()
    thread = threading.Thread(target=server.serve_forever, name="not-mcp", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def not_mcp(plain_http: _RecordingServer) -> str:
    """Base URL of the plain HTTP server (see `_NotMCP` for its paths)."""
    plain_http.methods.clear()
    plain_http.script.clear()
    return f"http://127.0.0.1:{plain_http.server_address[1]}"


@pytest.fixture
def methods_asked(plain_http: _RecordingServer, not_mcp: str) -> list[str]:
    """The JSON-RPC methods the bare-bones MCP servers under `not_mcp` were asked for."""
    return plain_http.methods


@pytest.fixture
def script(plain_http: _RecordingServer, not_mcp: str) -> dict[str, list[dict]]:
    """What `{not_mcp}/scripted` lists, by list key (`tools`, `resources`, ...); change it freely."""
    return plain_http.script


@pytest.fixture
def closed_port_url() -> str:
    """A URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
async def registry_service(tmp_path: Path, database_url: str) -> AsyncIterator[RegistryService]:
    """A started registry, on each backend in turn: SQLite, then Postgres through PgBouncer."""
    settings = RegistrySettings(
        data_dir=tmp_path,
        registry_database_url=database_url,
        discovery_timeout_s=5.0,
        outbound_allow=OUTBOUND_ALLOW.split(","),
        # No auth service here: audit records stay in the outbox (tests/registry/test_audit_records.py).
        auth_addr="127.0.0.1:1",
    )
    service = RegistryService(settings)
    await service.start(Runtime(service.settings))
    try:
        yield service
    finally:
        await service.drain()
        await service.stop()


@pytest.fixture
def registry(registry_service: RegistryService) -> Registry:
    return registry_service.registry


@pytest.fixture
async def outbox(
    registry_service: RegistryService,
) -> AsyncIterator[Callable[[], Awaitable[list[AuditEvent]]]]:
    """Reads the audit records waiting in the registry's outbox (no auth takes them here), oldest first."""
    engine = create_engine(registry_service.settings.database_url)

    async def waiting() -> list[AuditEvent]:
        async with sessionmaker(engine)() as s:
            rows = await audit_outbox.oldest(s, limit=10_000)
        return [AuditEvent.from_proto(auth_pb2.AuditRecord.FromString(raw)) for _, raw in rows]

    try:
        yield waiting
    finally:
        await engine.dispose()


class StaticPrincipals:
    """Stands in for the auth service: a fixed token → principal table."""

    async def authenticate(self, token: str) -> Principal:
        principal = TOKENS.get(token)
        if principal is None:
            raise Unauthenticated("unknown token")
        return principal


@pytest.fixture
async def api(registry_service: RegistryService) -> AsyncIterator[httpx.AsyncClient]:
    """The registry's HTTP API, called as an administrator unless a test sends other headers."""
    app = create_app(title="registry under test", routers=registry_service.routers())
    app.state.principals = StaticPrincipals()
    transport = httpx.ASGITransport(app=app)
    headers = {"authorization": "Bearer admin-token"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registry.test", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def registry_stub(
    registry_service: RegistryService,
) -> AsyncIterator[registry_pb2_grpc.RegistryServiceStub]:
    """A client of the registry's gRPC face, served by a real gRPC server on loopback."""
    server, _health = build_server(INTERNAL_TOKEN)
    registry_service.add_to_grpc(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = Channels(INTERNAL_TOKEN)
    try:
        yield registry_pb2_grpc.RegistryServiceStub(channels.get(f"127.0.0.1:{port}"))
    finally:
        await channels.close()
        await server.stop(None)


@pytest.fixture
def auth_settings(tmp_path: Path) -> AuthSettings:
    """The real auth service (tests/conftest.py `auth`) whose users call the registry: SQLite."""
    (tmp_path / "auth").mkdir()
    return AuthSettings(
        data_dir=tmp_path / "auth", bootstrap_admin_email=ADMIN_EMAIL, bootstrap_admin_password=ADMIN_PASSWORD
    )


@pytest.fixture
async def users_api(registry_service: RegistryService, auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    """The registry's HTTP API resolving tokens through the real auth service; send a user's headers."""
    app = create_app(title="registry under test", routers=registry_service.routers())
    app.state.principals = auth.principals
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry.test"
    ) as client:
        yield client
