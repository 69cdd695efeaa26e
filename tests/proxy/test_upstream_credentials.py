"""The proxy's side of upstream credentials: opened once per catalog rendered, and
sessions kept per URL and credentials, against a real upstream requiring a bearer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.errors import UpstreamError
from switchboard_core.security.sealing import SecretKeys, new_key_entry
from switchboard_mcp.upstream import UpstreamPool, seal_credentials
from switchboard_mcp.upstream.credentials import Bearer
from switchboard_proxy.catalog import render
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

KEYS = SecretKeys.parse(new_key_entry("k1"))


@pytest.fixture(scope="module")
def gated() -> Iterator[UpstreamProcess]:
    accepted = ("authorization: Bearer sk-one", "authorization: Bearer sk-two")
    with start_upstream(name="gated", accept_headers=accepted) as upstream:
        yield upstream


async def ledger(upstream: UpstreamProcess) -> dict[str, dict[str, int]]:
    async with httpx.AsyncClient(trust_env=False) as http:
        return (await http.get(f"{upstream.base_url}/sessions")).json()


def sealed(token: str, *, keys: SecretKeys = KEYS) -> str:
    return seal_credentials(Bearer(token), gateway_id="g1", keys=keys)


def reply(url: str, auth_sealed: str = "", *, gateway_id: str = "g1") -> registry_pb2.Catalog:
    upstream = registry_pb2.Upstream(
        gateway_id=gateway_id, name="gated", url=url, capabilities_json=b"{}", auth_sealed=auth_sealed
    )
    tool = registry_pb2.ToolBinding(name="gated__echo", upstream_name="echo", gateway_id=gateway_id)
    return registry_pb2.Catalog(server_id="", upstreams=[upstream], tools=[tool])


def test_credentials_are_opened_when_the_catalog_is_rendered() -> None:
    upstream = render(reply("http://up/mcp", sealed("sk-one")), KEYS).upstreams["g1"]
    assert upstream.credentials() is not None and upstream.credentials().kind == "bearer"
    assert render(reply("http://up/mcp"), KEYS).upstreams["g1"].credentials() is None


def test_credentials_no_key_opens_fail_that_gateways_calls_naming_it_and_the_key() -> None:
    other = SecretKeys.parse(new_key_entry("k-gone"))
    catalog = render(reply("http://up/mcp", sealed("sk-one", keys=other)), KEYS)
    binding = catalog.tools_by_name["gated__echo"]
    with pytest.raises(UpstreamError, match="gateway 'gated' cannot be opened.*'k-gone'"):
        binding.upstream.credentials()


async def test_sessions_are_kept_per_credentials_and_a_change_ends_the_old_one(
    gated: UpstreamProcess,
) -> None:
    pool = UpstreamPool(policy=LOOPBACK_ALLOWED, timeout_s=10)
    try:
        one = sealed("sk-one")
        first = render(reply(gated.url, one), KEYS).upstreams["g1"]
        again = render(reply(gated.url, one), KEYS).upstreams["g1"]
        changed = render(reply(gated.url, sealed("sk-two")), KEYS).upstreams["g1"]
        session = pool.session(first.url, first.credentials())
        await session.call_tool("echo", {"text": "one"})
        # Another render of the same sealed credentials: the same session.
        assert pool.session(again.url, again.credentials()) is pool.session(first.url, first.credentials())
        kept = pool.session(first.url, first.credentials())
        assert pool.session(changed.url, changed.credentials()) is not kept
        result = await pool.session(changed.url, changed.credentials()).call_tool("echo", {"text": "two"})
        assert result["content"][0]["text"] == "two"
        # The session opened with the old credentials is ended upstream (a DELETE).
        async with asyncio.timeout(5):
            while not any(counts["deleted"] for counts in (await ledger(gated)).values()):  # noqa: ASYNC110 - the upstream offers nothing to wait on
                await asyncio.sleep(0.02)
        assert sorted(c["deleted"] for c in (await ledger(gated)).values()) == [0, 1]
        without = pool.session(gated.url, None)
        with pytest.raises(UpstreamError, match="401"):
            await without.call_tool("echo", {"text": "none"})
    finally:
        await pool.close()
