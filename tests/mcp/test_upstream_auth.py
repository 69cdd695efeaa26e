"""Credentials sent to upstreams that require them (the fixture upstream's credential gate)."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from switchboard_core.errors import OutboundRefused, UpstreamError
from switchboard_mcp.upstream import NegotiatingUpstream, UpstreamAuth, UpstreamClients, new_http_client
from switchboard_mcp.upstream.credentials import Basic, Bearer, HeaderSet, OAuth2, parse_credentials
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

BASIC = "Basic " + base64.b64encode(b"robot:pa:ss").decode()


@pytest.fixture(scope="module")
def gated() -> UpstreamProcess:
    """Lets in a bearer token, a basic user, or an API key header."""
    accepted = ("authorization: Bearer t0k3n", f"authorization: {BASIC}", "x-api-key: k3y")
    with start_upstream(name="gated", accept_headers=accepted) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def oauth() -> UpstreamProcess:
    with start_upstream(name="oauth", oauth_client="svc:s3cret/+=", token_lifetime_s=3600) as upstream:
        yield upstream


@pytest.fixture
async def clients() -> UpstreamClients:
    clients = UpstreamClients(new_http_client(policy=LOOPBACK_ALLOWED), policy=LOOPBACK_ALLOWED)
    yield clients
    await clients.close()


async def seen(upstream: UpstreamProcess) -> dict:
    """What the upstream's credential gate saw (`switchboard_testing.upstream_gate`)."""
    async with httpx.AsyncClient(trust_env=False) as http:
        return (await http.get(f"{upstream.base_url}/seen")).json()


async def revoke(upstream: UpstreamProcess) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        await http.post(f"{upstream.base_url}/revoke")


async def call_echo(clients: UpstreamClients, url: str, auth: UpstreamAuth | None) -> str:
    session = NegotiatingUpstream(url, clients.client(auth), timeout_s=10)
    try:
        result = await session.call_tool("echo", {"text": "hi"})
    finally:
        await session.close()
    return result["content"][0]["text"]


@pytest.mark.parametrize(
    ("credentials", "header"),
    [
        (Bearer("t0k3n"), "Bearer t0k3n"),
        (Basic("robot", "pa:ss"), BASIC),
        (HeaderSet((("X-Api-Key", "k3y"),)), None),
    ],
    ids=["bearer", "basic", "headers"],
)
async def test_each_kind_lets_the_gateway_in(
    gated: UpstreamProcess, clients: UpstreamClients, credentials, header: str | None
) -> None:
    before = await seen(gated)
    auth = UpstreamAuth(credentials, url=gated.url, key=credentials.kind)
    assert await call_echo(clients, gated.url, auth) == "hi"
    after = await seen(gated)
    assert after["refused"] == before["refused"]
    sent = after["authorization"][len(before["authorization"]) :]
    assert sent and all(value == header for value in sent) if header else not sent


async def test_without_credentials_the_upstream_refuses(
    gated: UpstreamProcess, clients: UpstreamClients
) -> None:
    with pytest.raises(UpstreamError, match="401"):
        await call_echo(clients, gated.url, None)


async def test_credentials_go_only_to_the_upstreams_origin(
    gated: UpstreamProcess, oauth: UpstreamProcess, clients
) -> None:
    # A client for the gated upstream's credentials, used (wrongly) towards another origin.
    auth = UpstreamAuth(Bearer("t0k3n"), url=gated.url, key="elsewhere")
    before = (await seen(oauth))["authorization"]
    with pytest.raises(UpstreamError, match="401"):
        await call_echo(clients, oauth.url, auth)
    assert "Bearer t0k3n" not in (await seen(oauth))["authorization"][len(before) :]


def oauth_auth(upstream: UpstreamProcess, *, clock=None, secret: str = "s3cret/+=") -> UpstreamAuth:
    credentials = OAuth2(f"{upstream.base_url}/token", "svc", secret, scope="tools")
    options = {"clock": clock} if clock else {}
    return UpstreamAuth(credentials, url=upstream.url, key="oauth", **options)


async def test_oauth_fetches_a_token_once_and_keeps_it(oauth: UpstreamProcess, clients) -> None:
    before = (await seen(oauth))["token_requests"]
    auth = oauth_auth(oauth)
    for _ in range(3):
        assert await call_echo(clients, oauth.url, auth) == "hi"
    assert (await seen(oauth))["token_requests"] == before + 1


async def test_oauth_concurrent_calls_share_one_fetch(oauth: UpstreamProcess, clients) -> None:
    before = (await seen(oauth))["token_requests"]
    auth = oauth_auth(oauth)
    clients.client(auth)
    tokens = await asyncio.gather(*(auth.access_token() for _ in range(20)))
    assert len(set(tokens)) == 1
    assert (await seen(oauth))["token_requests"] == before + 1


async def test_oauth_fetches_again_once_the_token_nears_expiry(oauth: UpstreamProcess, clients) -> None:
    now = [1000.0]
    auth = oauth_auth(oauth, clock=lambda: now[0])
    clients.client(auth)
    first = await auth.access_token()
    now[0] += 3600 - 31  # the lifetime less a tenth of it, capped at 30 s, is not yet past
    assert await auth.access_token() == first
    now[0] += 2
    assert await auth.access_token() != first


async def test_oauth_fetches_again_once_when_the_upstream_answers_401(
    oauth: UpstreamProcess, clients
) -> None:
    auth = oauth_auth(oauth)
    assert await call_echo(clients, oauth.url, auth) == "hi"
    before = await seen(oauth)
    await revoke(oauth)
    assert await call_echo(clients, oauth.url, auth) == "hi"
    after = await seen(oauth)
    assert after["token_requests"] == before["token_requests"] + 1
    assert after["refused"] == before["refused"] + 1


async def test_oauth_with_a_wrong_secret_fails_clearly_without_the_secret(
    oauth: UpstreamProcess, clients
) -> None:
    auth = oauth_auth(oauth, secret="wrong-s3cret")
    with pytest.raises(
        UpstreamError, match="refused the client credentials: HTTP 401 \\(invalid_client\\)"
    ) as caught:
        await call_echo(clients, oauth.url, auth)
    assert "wrong-s3cret" not in caught.value.message


async def test_oauth_token_url_passes_the_ssrf_guard() -> None:
    clients = UpstreamClients()  # public addresses only
    try:
        auth = UpstreamAuth(
            OAuth2("http://127.0.0.1:9/token", "svc", "s"), url="https://upstream.example/mcp", key="k"
        )
        clients.client(auth)
        with pytest.raises(OutboundRefused):
            await auth.access_token()
    finally:
        await clients.close()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"type": "bearer"}, "'token'"),
        ({"type": "basic", "username": "a:b", "password": "p"}, "':'"),
        ({"type": "headers", "headers": {"Host": "x"}}, "cannot carry"),
        ({"type": "headers", "headers": {"Transfer-Encoding": "x"}}, "cannot carry"),
        ({"type": "headers", "headers": {"X-Key": "a\r\nb"}}, "control characters"),
        ({"type": "headers", "headers": {}}, "at least one"),
        ({"type": "oauth2", "token_url": "https://a/t", "client_id": "c"}, "'client_secret'"),
        ({"type": "kerberos"}, "unknown credential type"),
    ],
)
def test_malformed_credentials_are_refused(data: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_credentials(data)


def test_credentials_show_no_secret() -> None:
    for credentials in (
        Bearer("s3cret"),
        Basic("robot", "s3cret"),
        HeaderSet((("X-Api-Key", "s3cret"),)),
        OAuth2("https://a/t", "svc", "s3cret"),
    ):
        assert "s3cret" not in repr(credentials) + str(credentials.public())
        assert parse_credentials(credentials.as_json()) == credentials
