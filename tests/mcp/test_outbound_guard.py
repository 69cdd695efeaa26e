"""The SSRF guard in the upstream HTTP client: the address checked is the address connected to."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.abc import ResolveResult
from switchboard_core.security.outbound import OutboundPolicy, OutboundRefused
from switchboard_mcp.upstream import GuardedResolver, UpstreamSession, new_http_client
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


class Listener:
    """A plain HTTP server on one loopback address counting the connections it accepts;
    it answers every request with `answer` and closes the connection."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok") -> None:
        self.answer = answer
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.answer.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1))
            await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def on(self, host: str, port: int = 0) -> AsyncIterator[Listener]:
        server = await asyncio.start_server(self._serve, host, port)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()


class SwitchingDns:
    """The resolver's lookup, answering `name` with whichever address it holds now."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lookups = 0

    async def __call__(self, host: str, port: int, family: socket.AddressFamily) -> list[ResolveResult]:
        self.lookups += 1
        return [_answer(host, self.address, port)]


def _answer(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)


ONLY_127_0_0_1 = OutboundPolicy.parse(["127.0.0.1/32"])


async def test_a_name_rebound_to_a_forbidden_address_is_refused_before_any_connection() -> None:
    dns = SwitchingDns("127.0.0.1")
    allowed, forbidden = Listener(), Listener()
    async with allowed.on("127.0.0.1"), forbidden.on("127.0.0.2", allowed.port):
        async with new_http_client(policy=ONLY_127_0_0_1, lookup=dns) as http:
            url = f"http://upstream.test:{allowed.port}/"
            async with http.get(url) as response:
                assert await response.text() == "ok"

            dns.address = "127.0.0.2"  # the name now points at another (loopback) address
            http.connector.clear_dns_cache()  # as when the first answer's TTL runs out
            with pytest.raises(OutboundRefused) as refused:
                await http.get(url)

    assert refused.value.message == (
        "outbound connection refused: upstream.test resolves to 127.0.0.2, a loopback address; "
        "allow it with SWITCHBOARD_OUTBOUND_ALLOW"
    )
    assert dns.lookups == 2
    assert (allowed.connections, forbidden.connections) == (1, 0)


async def test_only_the_permitted_answers_of_a_name_are_handed_to_the_connection() -> None:
    async def lookup(host: str, port: int, family: socket.AddressFamily) -> list[ResolveResult]:
        return [_answer(host, a, port) for a in ("169.254.169.254", "127.0.0.1", "10.0.0.5", "::1")]

    resolver = GuardedResolver(ONLY_127_0_0_1, lookup=lookup)
    assert [a["host"] for a in await resolver.resolve("mixed.test", 80)] == ["127.0.0.1"]

    refusing = GuardedResolver(OutboundPolicy(), lookup=lookup)
    with pytest.raises(
        OutboundRefused, match="mixed.test resolves to 169.254.169.254, a cloud metadata address"
    ):
        await refusing.resolve("mixed.test", 80)


async def test_a_host_named_in_the_allow_list_reaches_whatever_it_resolves_to() -> None:
    dns = SwitchingDns("127.0.0.2")
    listener = Listener()
    async with listener.on("127.0.0.2"):
        policy = OutboundPolicy.parse(["upstream.test"])
        async with new_http_client(policy=policy, lookup=dns) as http:
            async with http.get(f"http://upstream.test:{listener.port}/") as response:
                assert response.status == 200
            with pytest.raises(OutboundRefused, match="127.0.0.2 is a loopback address"):
                await http.get(f"http://127.0.0.2:{listener.port}/")
    assert listener.connections == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"])
async def test_a_url_naming_a_forbidden_address_is_refused_without_connecting(host: str) -> None:
    listener = Listener()
    async with listener.on("127.0.0.1"), new_http_client() as http:
        with pytest.raises(
            OutboundRefused, match="a loopback address; allow it with SWITCHBOARD_OUTBOUND_ALLOW"
        ):
            await http.get(f"http://{host}:{listener.port}/")
    assert listener.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f.0.0.1", "127.1", "0177.0.0.1"])
async def test_legacy_spellings_of_a_loopback_address_do_not_connect(host: str) -> None:
    listener = Listener()
    async with listener.on("127.0.0.1"), new_http_client() as http:
        # aiohttp refuses some spellings itself; the system resolver turns the rest into 127.0.0.1.
        with pytest.raises((OutboundRefused, aiohttp.InvalidUrlClientError)):
            await http.get(f"http://{host}:{listener.port}/")
    assert listener.connections == 0


async def test_a_redirect_to_a_forbidden_address_is_refused() -> None:
    target = Listener()
    async with target.on("127.0.0.2"):
        location = f"http://127.0.0.2:{target.port}/latest/meta-data".encode()
        redirecting = Listener(
            b"HTTP/1.1 302 Found\r\nlocation: " + location + b"\r\ncontent-length: 0\r\n\r\n"
        )
        async with redirecting.on("127.0.0.1"), new_http_client(policy=ONLY_127_0_0_1) as http:
            with pytest.raises(OutboundRefused, match="127.0.0.2 is a loopback address"):
                await http.get(f"http://127.0.0.1:{redirecting.port}/")
    assert (redirecting.connections, target.connections) == (1, 0)


@pytest.fixture(scope="module")
def upstream() -> UpstreamProcess:
    with start_upstream(name="rebound") as upstream:
        yield upstream


async def test_a_session_whose_upstream_name_now_points_somewhere_forbidden_fails_its_next_call(
    upstream: UpstreamProcess,
) -> None:
    port = upstream.url.split(":")[2].split("/")[0]
    dns = SwitchingDns("127.0.0.1")
    async with new_http_client(policy=ONLY_127_0_0_1, lookup=dns) as http:
        # (The fixture upstream answers only requests for loopback host names.)
        session = UpstreamSession(f"http://localhost:{port}/mcp", http, timeout_s=10)
        # The connection is not kept, so the next call connects (and resolves) again.
        once = await session.call_tool("add", {"a": 1, "b": 2}, extra_headers={"connection": "close"})
        assert once["content"][0]["text"] == "3"

        dns.address = "10.0.0.5"
        http.connector.clear_dns_cache()
        with pytest.raises(OutboundRefused, match="localhost resolves to 10.0.0.5, a private address"):
            await session.call_tool("add", {"a": 2, "b": 2})
