"""Which URLs the gateway accepts to reach for users: absolute http(s) that every parser
on the way reads alike."""

from __future__ import annotations

import pytest
from switchboard_mcp.upstream.urls import MAX_URL_LENGTH, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/mcp",
        "https://mcp.example.com/v1/mcp?tenant=a%20b#frag",
        "http://[::1]:9000/mcp",
        "http://my_service/mcp",
        "https://mcp.example.com./mcp",
        f"http://h/{'x' * (MAX_URL_LENGTH - 9)}",
    ],
)
def test_plain_absolute_http_urls_are_accepted(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:1\\@example.com/mcp", "backslashes"),
        ("http://a\\b/mcp", "backslashes"),
        ("http://h/a b", "spaces"),
        ("http://h/a\tb", "control characters"),
        ("http://h/\x7f", "control characters"),
        ("http://h/é", "ASCII"),
        ('http://h/"x"', "quotes"),
        ("http://user:pw@h/mcp", "user info"),
        ("http://@h/mcp", "user info"),
        ("ftp://h/mcp", "http:// or https://"),
        ("//h/mcp", "http:// or https://"),
        ("http:///mcp", "http:// or https://"),
        ("http://h:0/mcp", "port 0"),
        ("http://h:65536/mcp", "not a valid URL"),
        ("http://[::1/mcp", "not a valid URL"),
        ("http://-h-/mcp", "neither a host name"),
        ("http://a..b/mcp", "neither a host name"),
        ("http://%31%32%37.0.0.1/mcp", "neither a host name"),
        ("", "1 to"),
        (f"http://h/{'x' * MAX_URL_LENGTH}", "1 to"),
    ],
)
def test_urls_parsers_could_read_differently_are_refused_with_a_reason(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None and why in problem
