"""The distributed stack (`switchboard stack up`) seen from a client: nginx routes each
path to its service, balances over two mcp-proxy replicas, compresses, caches admin
lists per credential, limits rates and sizes, and passes event streams unbuffered.

Sessions do not cross replicas yet (the session store is in-process), so MCP traffic
here is sessionless: `/rpc` and stateless 2026-07-28 requests.
"""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.readiness import eventually
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

from switchboard_cli.stack import nginx

MODERN = "2026-07-28"
RATE_LIMIT, RATE_BURST = 20, 40


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2, "rate_limit": RATE_LIMIT, "rate_burst": RATE_BURST, "max_body": "1m"}


@pytest.fixture(scope="module")
def token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def admin(stack: StackProcess, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="alpha", extra_tools=20) as running:
        yield running


@pytest.fixture(scope="module")
def server_id(admin: httpx.Client, upstream: UpstreamProcess) -> str:
    register(admin, "alpha", upstream.url)
    return create_server(admin, "alpha", ["alpha__add", "alpha__progress"], bare_names=True)


def rpc(admin: httpx.Client, path: str, method: str, params: dict | None = None) -> httpx.Response:
    return admin.post(path, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})


def modern_call(name: str, arguments: dict, *, progress_token: str | None = None) -> tuple[bytes, dict]:
    """A stateless 2026-07-28 tools/call: its body and its routing headers."""
    meta: dict = {
        PROTOCOL_VERSION_META_KEY: MODERN,
        CLIENT_INFO_META_KEY: {"name": "stack-test", "version": "1"},
        CLIENT_CAPABILITIES_META_KEY: {},
    }
    if progress_token:
        meta["progressToken"] = progress_token
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    return orjson.dumps(body), headers


# --- routing ---------------------------------------------------------------------------


def test_each_path_reaches_its_own_service(stack: StackProcess, admin: httpx.Client) -> None:
    answers = {
        "auth": admin.get("/auth/me"),
        "registry": admin.get("/gateways"),
        "metrics": admin.get("/metrics/tools"),
        "mcp-proxy": rpc(admin, "/rpc", "ping"),
    }
    for service, answer in answers.items():
        assert answer.status_code == 200, (service, answer.text)
        if "x-upstream" in answer.headers:  # absent when a cached answer served the GET
            assert answer.headers["x-upstream"] in stack.replica_addresses(service), service


def test_an_unknown_path_is_a_json_404_from_nginx(admin: httpx.Client) -> None:
    answer = admin.get("/no/such/route")
    assert answer.status_code == 404
    assert answer.json()["error"] == "NotFound"
    assert "x-upstream" not in answer.headers


def test_nginx_answers_its_own_health_check(stack: StackProcess) -> None:
    assert httpx.get(f"{stack.url}/nginx-health").text == "ok\n"


# --- MCP through two proxy replicas ------------------------------------------------------


def test_a_tools_call_reaches_the_upstream_through_nginx(admin: httpx.Client, server_id: str) -> None:
    answer = rpc(
        admin, f"/servers/{server_id}/rpc", "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["content"][0]["text"] == "3"


def test_calls_are_spread_over_both_proxy_replicas(
    stack: StackProcess, admin: httpx.Client, server_id: str
) -> None:
    served_by = []
    for i in range(8):
        answer = rpc(
            admin, f"/servers/{server_id}/rpc", "tools/call", {"name": "add", "arguments": {"a": i, "b": 1}}
        )
        assert answer.json()["result"]["content"][0]["text"] == str(i + 1)
        served_by.append(answer.headers["x-upstream"])
    assert set(served_by) == set(stack.replica_addresses("mcp-proxy"))
    # No stickiness: a client on one keep-alive connection is not pinned to a replica.
    assert max(served_by.count(a) for a in set(served_by)) <= 6


def test_stateless_mcp_requests_are_answered_by_either_replica(
    stack: StackProcess, token: str, server_id: str
) -> None:
    body, headers = modern_call("add", {"a": 20, "b": 22})
    served_by = set()
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        for _ in range(6):
            answer = client.post(f"{stack.url}/servers/{server_id}/mcp", content=body, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["content"][0]["text"] == "42"
            served_by.add(answer.headers["x-upstream"])
    assert served_by == set(stack.replica_addresses("mcp-proxy"))


def test_an_event_stream_is_passed_on_as_it_comes(stack: StackProcess, token: str, server_id: str) -> None:
    # Three progress events 0.5 s apart, then the result: buffered, they would all
    # arrive together at the end.
    body, headers = modern_call("progress", {"steps": 3, "delay": 0.5}, progress_token="p")
    arrivals: list[tuple[float, dict]] = []
    with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        with client.stream(
            "POST", f"{stack.url}/servers/{server_id}/mcp", content=body, headers=headers
        ) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in answer.headers
            decoder = sse.Decoder()
            for chunk in answer.iter_bytes():
                arrivals += [(time.monotonic(), orjson.loads(e.data)) for e in decoder.feed(chunk)]
    progress = [at for at, m in arrivals if m.get("method") == "notifications/progress"]
    assert len(progress) == 3
    assert arrivals[-1][1]["result"]["content"][0]["text"] == "did 3 steps"
    assert arrivals[-1][0] - progress[0] >= 0.8, "events arrived together: the stream was buffered"


# --- compression ------------------------------------------------------------------------


def test_a_large_admin_list_is_gzipped_for_clients_that_accept_it(
    admin: httpx.Client, server_id: str
) -> None:
    plain = admin.get("/tools", params={"limit": 500}, headers={"accept-encoding": "identity"})
    assert len(plain.content) > 4096
    assert "content-encoding" not in plain.headers
    with admin.stream("GET", "/tools", params={"limit": 500}, headers={"accept-encoding": "gzip"}) as zipped:
        wire = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
    assert len(wire) < len(plain.content) / 3
    assert orjson.loads(gzip.decompress(wire)) == plain.json()


def test_brotli_is_used_when_nginx_has_the_module(admin: httpx.Client, server_id: str) -> None:
    with admin.stream("GET", "/tools", params={"limit": 500}, headers={"accept-encoding": "br"}) as answer:
        raw = b"".join(answer.iter_raw())
        encoding = answer.headers.get("content-encoding")
    if nginx.brotli_module() is None:
        assert encoding is None
    else:
        assert encoding == "br"
        assert not raw.startswith(b"{")


# --- caching of admin lists --------------------------------------------------------------


def test_an_admin_list_is_cached_per_credential(stack: StackProcess, admin: httpx.Client) -> None:
    url = "/gateways?limit=17"  # a key no other test uses
    assert admin.get(url).headers["x-cache-status"] == "MISS"
    again = admin.get(url)
    assert again.headers["x-cache-status"] == "HIT"
    assert "x-upstream" not in again.headers
    other = stack.login()
    answer = httpx.get(f"{stack.url}{url}", headers={"authorization": f"Bearer {other}"})
    assert answer.headers["x-cache-status"] == "MISS"
    assert answer.json() == again.json()


def test_every_answer_names_its_own_request_id_even_from_the_cache(
    stack: StackProcess, admin: httpx.Client
) -> None:
    url = "/gateways?limit=29"  # a key no other test uses
    first, again = admin.get(url), admin.get(url)
    assert again.headers["x-cache-status"] == "HIT"
    ids = [answer.headers.get_list("x-request-id") for answer in (first, again)]
    assert all(len(named) == 1 and len(named[0]) == 32 for named in ids), ids
    assert ids[0] != ids[1]
    log = stack.dir / "nginx" / "logs" / "access.log"
    eventually(lambda: f"id={ids[1][0]}" in log.read_text(), what="the cache hit's id in nginx's access log")


def test_a_cached_list_is_refreshed_within_a_few_seconds(
    admin: httpx.Client, upstream: UpstreamProcess
) -> None:
    url = "/servers?limit=19"
    before = {s["name"] for s in admin.get(url).json()["items"]}
    create_server(admin, "later", ["alpha__add"], bare_names=True)

    deadline = time.monotonic() + 5
    while "later" not in {s["name"] for s in admin.get(url).json()["items"]}:
        assert time.monotonic() < deadline, "the cached list never showed the new server"
        time.sleep(0.1)
    assert "later" not in before


def test_no_cache_from_the_client_bypasses_the_cache(admin: httpx.Client) -> None:
    url = "/prompts?limit=23"
    admin.get(url)
    answer = admin.get(url, headers={"cache-control": "no-cache"})
    assert answer.headers["x-cache-status"] == "BYPASS"


def test_posts_are_never_cached(admin: httpx.Client) -> None:
    for _ in range(2):
        answer = admin.post("/servers", json={"name": ""})
        assert answer.is_client_error, answer.text
        assert answer.headers.get("x-cache-status") != "HIT"
        assert "x-upstream" in answer.headers  # the registry answered, every time


def test_mcp_answers_are_never_cached(admin: httpx.Client) -> None:
    for _ in range(2):
        answer = rpc(admin, "/rpc", "ping")
        assert "x-cache-status" not in answer.headers
        assert "x-upstream" in answer.headers


@pytest.mark.parametrize("path", ["/rpc", "/auth/tokens", "/gateways"])
def test_two_authorization_headers_are_refused_by_nginx_itself(
    stack: StackProcess, token: str, path: str
) -> None:
    headers = [("authorization", "Bearer not-a-token"), ("authorization", f"Bearer {token}")]
    answer = httpx.post(stack.url + path, json={}, headers=headers, timeout=30)
    assert answer.status_code == 400
    assert "x-upstream" not in answer.headers


@pytest.mark.parametrize("path", ["/rpc", "/auth/tokens", "/gateways"])
def test_other_repeated_single_headers_are_refused_by_the_service_they_reach(
    stack: StackProcess, token: str, path: str
) -> None:
    # nginx passes these on as they came; POSTs, so no cached answer stands in for the service's.
    headers = [
        ("authorization", f"Bearer {token}"),
        ("origin", "http://localhost"),
        ("origin", "http://localhost"),
    ]
    answer = httpx.post(stack.url + path, json={}, headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "the origin header appears more than once" in answer.text
    assert "x-upstream" in answer.headers


# --- limits -------------------------------------------------------------------------------


async def test_a_burst_over_the_rate_limit_gets_429(stack: StackProcess) -> None:
    # A credential of its own: the bucket is per Authorization header, so the other
    # tests' token is not drained.
    headers = {"authorization": "Bearer rate-limit-probe"}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as client:
        answers = await asyncio.gather(*(client.get("/gateways") for _ in range(4 * RATE_BURST)))
    elapsed = time.monotonic() - started
    statuses = [a.status_code for a in answers]
    assert 429 in statuses
    # Those within the limit reached the registry, which refused the made-up token;
    # no more than the burst plus what the rate allows over the time the burst took.
    passed = statuses.count(401)
    assert 0 < passed <= RATE_BURST + RATE_LIMIT * (elapsed + 1), (passed, elapsed)
    assert passed + statuses.count(429) == len(statuses)


def test_a_body_over_the_limit_gets_413_from_nginx(admin: httpx.Client) -> None:
    answer = admin.post(
        "/rpc", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert "x-upstream" not in answer.headers


def test_headers_over_the_limit_are_refused(admin: httpx.Client) -> None:
    answer = admin.get("/gateways", headers={"x-padding": "p" * 20_000})
    assert answer.status_code == 400
    assert "x-upstream" not in answer.headers


# --- MCP authorization behind nginx ------------------------------------------------------------

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_protected_resource_metadata_names_the_public_url(stack: StackProcess, server_id: str) -> None:
    answer = httpx.get(f"{stack.url}{WELL_KNOWN}/servers/{server_id}/mcp")
    assert answer.status_code == 200
    assert answer.json()["resource"] == f"{stack.url}/servers/{server_id}/mcp"
    assert answer.json()["authorization_servers"] == [stack.url]
    refused = httpx.post(
        f"{stack.url}/servers/{server_id}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
    )
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{stack.url}{WELL_KNOWN}/servers/{server_id}/mcp"'
    )


def test_the_authorization_server_metadata_is_reached_through_nginx(stack: StackProcess) -> None:
    (issuer,) = httpx.get(f"{stack.url}{WELL_KNOWN}").json()["authorization_servers"]
    answer = httpx.get(f"{issuer}/.well-known/oauth-authorization-server")
    assert answer.status_code == 200
    assert answer.json()["issuer"] == issuer == stack.url
    assert answer.json()["jwks_uri"] == f"{stack.url}/auth/jwks.json"
    assert httpx.get(answer.json()["jwks_uri"]).json()["keys"]


def test_a_client_claiming_another_address_gets_nowhere_through_nginx(
    admin: httpx.Client, server_id: str
) -> None:
    def mint(cidrs: list[str]) -> str:
        minted = admin.post("/auth/tokens", json={"name": "from-net", "cidrs": cidrs})
        assert minted.status_code == 201, minted.text
        return minted.json()["access_token"]

    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    elsewhere, here = mint(["10.0.0.0/8"]), mint(["127.0.0.1/32"])
    spoofed = httpx.post(
        f"{admin.base_url}/servers/{server_id}/rpc",
        json=ping,
        headers={"authorization": f"Bearer {elsewhere}", "x-forwarded-for": "10.1.2.3"},
    )
    assert spoofed.status_code == 403
    allowed = httpx.post(
        f"{admin.base_url}/servers/{server_id}/rpc",
        json=ping,
        headers={"authorization": f"Bearer {here}", "x-forwarded-for": "10.1.2.3"},
    )
    assert allowed.status_code == 200, allowed.text


# --- the command around it ------------------------------------------------------------------


def test_a_token_minted_by_the_cli_works_through_nginx(stack: StackProcess) -> None:
    minted = stack.mint_token()
    answer = httpx.get(f"{stack.url}/auth/me", headers={"authorization": f"Bearer {minted}"})
    assert answer.status_code == 200
    assert answer.json()["email"] == stack.admin_email


def test_a_second_stack_in_the_same_dir_is_refused(stack: StackProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", "stack", "up", "--dir", str(stack.dir), "--port", "1"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "another `switchboard stack up` is running" in result.stderr
