"""What a scoped token may do on the MCP endpoints, and who the client is behind proxies."""

from __future__ import annotations

import ipaddress

import pytest
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.policy import PERMISSIONS, Membership
from switchboard_core.principals import Principal
from switchboard_proxy import access_rules
from switchboard_proxy.access_rules import METHOD_PERMISSIONS, connect_problem, method_problem
from switchboard_proxy.resource_metadata import ResourceMetadata, metadata_url

DEVELOPER = Membership("team-1", "developer", frozenset({"servers.use", "tools.read", "tools.execute"}))


def principal(**limits) -> Principal:
    return Principal(
        "u1", "u1@example.com", False, ("team-1",), "t1", 2**40, memberships=(DEVELOPER,), **limits
    )


def nowhere():
    raise AssertionError("the client's address is looked up only for tokens limited to networks")


def test_every_mapped_method_needs_a_known_permission() -> None:
    assert set(METHOD_PERMISSIONS.values()) <= set(PERMISSIONS)
    assert METHOD_PERMISSIONS["tools/list"] == "tools.read"
    assert METHOD_PERMISSIONS["tools/call"] == "tools.execute"
    assert METHOD_PERMISSIONS["prompts/get"] == "prompts.read"
    assert METHOD_PERMISSIONS["resources/templates/list"] == "resources.read"


def test_an_unscoped_token_is_held_to_nothing_here() -> None:
    unscoped = principal()
    assert connect_problem(unscoped, "any", nowhere) is None
    assert method_problem(unscoped, {"method": "tools/call"}) is None


def test_a_scoped_token_names_the_scope_it_lacks() -> None:
    scoped = principal(scopes=("servers.use", "tools.read"))
    assert method_problem(scoped, {"method": "tools/list"}) is None
    assert method_problem(scoped, {"method": "ping"}) is None
    problem = method_problem(scoped, {"method": "tools/call"})
    assert problem is not None and problem.missing_scope == "tools.execute"


def test_the_scopes_limit_even_what_the_roles_would_not_grant_anyway() -> None:
    # prompts.read is not in the developer membership here, yet what stands in the way
    # first is the token's scope: that is what the client can fix by asking for it.
    scoped = principal(scopes=("servers.use",))
    assert method_problem(scoped, {"method": "prompts/get"}).missing_scope == "prompts.read"


def test_completions_need_the_permission_of_what_they_complete() -> None:
    scoped = principal(scopes=("servers.use", "prompts.read"))
    prompt = {"method": "completion/complete", "params": {"ref": {"type": "ref/prompt", "name": "greet"}}}
    resource = {
        "method": "completion/complete",
        "params": {"ref": {"type": "ref/resource", "uri": "x://{a}"}},
    }
    assert method_problem(scoped, prompt) is None
    assert method_problem(scoped, resource).missing_scope == "resources.read"


def test_connecting_needs_servers_use_when_the_token_is_scoped() -> None:
    problem = connect_problem(principal(scopes=("tools.read",)), "s1", nowhere)
    assert problem is not None and problem.missing_scope == "servers.use"


def test_a_token_limited_to_servers_reaches_only_those() -> None:
    limited = principal(allowed_servers=("s1",))
    assert connect_problem(limited, "s1", nowhere) is None
    assert connect_problem(limited, "s2", nowhere).missing_scope == ""
    assert connect_problem(limited, "", nowhere) is not None  # /mcp spans every server


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("192.168.1.1", False),
        ("2001:db8::5", True),
        ("2001:db9::5", False),
        (None, False),
    ],
)
def test_a_token_limited_to_networks_is_used_only_from_them(address: str | None, allowed: bool) -> None:
    limited = principal(allowed_cidrs=("10.0.0.0/8", "2001:db8::/32"))
    client = None if address is None else ipaddress.ip_address(address)
    assert (connect_problem(limited, "s1", lambda: client) is None) is allowed


def test_networks_are_parsed_once_per_list() -> None:
    access_rules.networks.cache_clear()
    limited = principal(allowed_cidrs=("10.0.0.0/8",))
    for _ in range(100):
        connect_problem(limited, "s1", lambda: ipaddress.ip_address("10.0.0.1"))
    assert access_rules.networks.cache_info().misses == 1


# -- who the client is -------------------------------------------------------------------


def scope(peer: str, **headers: str) -> tuple[dict, dict[str, str]]:
    return {"client": (peer, 50000), "scheme": "http", "server": ("127.0.0.1", 4444)}, headers


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    trust = ProxyTrust([])
    asgi, headers = scope("198.51.100.7", **{"x-forwarded-for": "10.0.0.1", "host": "gw.example"})
    assert str(trust.client_address(asgi, headers)) == "198.51.100.7"
    headers |= {"x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}
    assert trust.base_url(asgi, headers) == "http://gw.example"


def test_behind_a_trusted_proxy_the_client_is_the_last_address_it_did_not_add_itself() -> None:
    trust = ProxyTrust(["127.0.0.1", "10.9.0.0/16"])
    asgi, headers = scope("127.0.0.1", **{"x-forwarded-for": "203.0.113.5, 10.9.1.1"})
    assert str(trust.client_address(asgi, headers)) == "203.0.113.5"
    asgi, headers = scope("127.0.0.1", **{"x-forwarded-for": "6.6.6.6, 203.0.113.5"})
    assert str(trust.client_address(asgi, headers)) == "203.0.113.5"
    asgi, headers = scope("::ffff:127.0.0.1")
    assert str(trust.client_address(asgi, headers)) == "127.0.0.1"


def test_the_public_url_comes_from_a_trusted_proxys_forwarded_headers() -> None:
    trust = ProxyTrust(["127.0.0.1"])
    asgi, headers = scope(
        "127.0.0.1",
        host="127.0.0.1",
        **{"x-forwarded-host": "gw.example", "x-forwarded-port": "8443", "x-forwarded-proto": "https"},
    )
    assert trust.base_url(asgi, headers) == "https://gw.example:8443"
    asgi, headers = scope(
        "127.0.0.1",
        **{"x-forwarded-host": "gw.example", "x-forwarded-port": "443", "x-forwarded-proto": "https"},
    )
    assert trust.base_url(asgi, headers) == "https://gw.example"


def test_a_configured_public_url_wins_and_a_strange_host_is_not_echoed() -> None:
    asgi, headers = scope("127.0.0.1", host="gw.example")
    assert (
        ProxyTrust([], public_url="https://mcp.example.com/").base_url(asgi, headers)
        == "https://mcp.example.com"
    )
    asgi, headers = scope("127.0.0.1", host='x" onload="y')
    assert ProxyTrust([]).base_url(asgi, headers) == "http://127.0.0.1:4444"


def test_metadata_urls_are_quoted_and_documents_name_the_configured_authorization_server() -> None:
    assert metadata_url("https://gw", "/servers/a b/mcp") == (
        "https://gw/.well-known/oauth-protected-resource/servers/a%20b/mcp"
    )
    metadata = ResourceMetadata(ProxyTrust([]), authorization_servers=["https://login.example.com"])
    document = metadata.document("https://gw", "/servers/s1/mcp")
    assert document["resource"] == "https://gw/servers/s1/mcp"
    assert document["authorization_servers"] == ["https://login.example.com"]
    assert document["bearer_methods_supported"] == ["header"]
