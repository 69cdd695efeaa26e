"""The formatter's last line of defence: what looks like a credential is masked, and
ordinary text is left as it is."""

from __future__ import annotations

import pytest
from switchboard_core.logs import redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("authorization: Bearer sk-live-2b7c9d1e", "sk-live-2b7c9d1e"),
        ("Authorization: Basic cm9ib3Q6aHVudGVyMg==", "cm9ib3Q6aHVudGVyMg=="),
        ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123 refused", "eyJhbGciOiJIUzI1NiJ9"),
        ("login with password=correct-horse", "correct-horse"),
        ('{"password": "two words"}', "two words"),
        ("{'client_secret': 's3cr3t'}", "s3cr3t"),
        ("GET /mcp?access_token=abc123&x=1", "abc123"),
        ("X-Api-Key: k-123456", "k-123456"),
        ("https://robot:pa55@upstream.example/mcp unreachable", "pa55"),
    ],
)
def test_what_looks_like_a_credential_is_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked and "[redacted]" in masked


@pytest.mark.parametrize(
    "text",
    [
        "GET /gateways/{gateway_id} 200 1.2 ms 312 B",
        "Basic authentication configured for gateway crm",
        "Bearer tokens are verified with the key ring",
        "signing key k1 added; it signs from 2026-12-07",
        "user admin@example.com logged in",
        "tokens: 3",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_masking_twice_changes_nothing_more() -> None:
    once = redact("token=abc123 password=[x] Authorization: Bearer sk-1-2-3")
    assert redact(once) == once
