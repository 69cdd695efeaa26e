"""`Mcp-Param-*` rules (2026-07-28), checked against the official SDK's own reading of
them: the same schemas declare the same headers, the same calls pass or fail."""

from __future__ import annotations

import pytest
from mcp.shared.inbound import (
    find_invalid_x_mcp_header,
    mcp_param_headers,
    validate_mcp_param_headers,
    x_mcp_header_map,
)
from switchboard_mcp import param_headers

REGION = {"type": "string", "x-mcp-header": "Region"}
SCHEMAS = {
    "plain": {"type": "object", "properties": {"a": {"type": "string"}}},
    "top-level": {
        "type": "object",
        "properties": {"region": REGION, "n": {"type": "integer", "x-mcp-header": "N"}},
    },
    "nested": {
        "type": "object",
        "properties": {"where": {"type": "object", "properties": {"region": REGION}}},
    },
    "boolean": {"type": "object", "properties": {"dry": {"type": "boolean", "x-mcp-header": "Dry"}}},
    "number-refused": {"type": "object", "properties": {"x": {"type": "number", "x-mcp-header": "X"}}},
    "bad-token": {"type": "object", "properties": {"x": {"type": "string", "x-mcp-header": "a b"}}},
    "duplicate": {
        "type": "object",
        "properties": {"a": REGION, "b": {"type": "string", "x-mcp-header": "region"}},
    },
    "under-items": {"type": "object", "properties": {"l": {"type": "array", "items": REGION}}},
    "under-anyof": {"type": "object", "anyOf": [{"properties": {"r": REGION}}]},
    "at-root": {"type": "string", "x-mcp-header": "Root"},
}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_a_schema_declares_what_the_sdk_reads_from_it(name: str) -> None:
    schema = SCHEMAS[name]
    ours = {param.path: param.token for param in param_headers.declared(schema)}
    theirs = {} if find_invalid_x_mcp_header(schema) else x_mcp_header_map(schema)
    assert ours == theirs


CALLS = [
    ("top-level", {"region": "eu", "n": 3}, {"Mcp-Param-Region": "eu", "Mcp-Param-N": "3"}),
    ("top-level", {"region": "eu", "n": 3}, {"Mcp-Param-Region": "eu", "Mcp-Param-N": "3.0"}),
    ("top-level", {"region": "eu", "n": 3}, {"Mcp-Param-Region": "eu", "Mcp-Param-N": "3.5"}),
    ("top-level", {"region": "eu", "n": 3}, {"Mcp-Param-Region": "eu"}),
    ("top-level", {"region": "eu"}, {"Mcp-Param-Region": "eu", "Mcp-Param-N": "1"}),
    ("top-level", {"region": "ünï", "n": 1}, {"Mcp-Param-Region": "=?base64?w7xuw68=?=", "Mcp-Param-N": "1"}),
    ("top-level", {"region": " eu", "n": 1}, {"Mcp-Param-Region": " eu", "Mcp-Param-N": "1"}),
    ("top-level", {}, {}),
    ("nested", {"where": {"region": "us"}}, {"Mcp-Param-Region": "us"}),
    ("nested", {"where": {"region": "us"}}, {"Mcp-Param-Region": "eu"}),
    ("boolean", {"dry": True}, {"Mcp-Param-Dry": "true"}),
    ("boolean", {"dry": True}, {"Mcp-Param-Dry": "True"}),
    ("number-refused", {"x": 1.5}, {}),
]


@pytest.mark.parametrize(("schema", "arguments", "headers"), CALLS)
def test_a_call_passes_exactly_when_the_sdk_lets_it(schema: str, arguments: dict, headers: dict) -> None:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    ours = param_headers.check(param_headers.declared(SCHEMAS[schema]), arguments, raw)
    theirs = validate_mcp_param_headers(
        SCHEMAS[schema], arguments, {k.lower(): v for k, v in headers.items()}
    )
    assert (ours is None) == (theirs is None), (ours, theirs)


def test_a_declared_header_sent_twice_is_a_mismatch() -> None:
    raw = [(b"mcp-param-region", b"eu"), (b"mcp-param-region", b"eu"), (b"mcp-param-n", b"1")]
    mismatch = param_headers.check(
        param_headers.declared(SCHEMAS["top-level"]), {"region": "eu", "n": 1}, raw
    )
    assert mismatch is not None and "more than once" in mismatch.message


@pytest.mark.parametrize(
    "arguments", [{"region": "eu", "n": 3}, {"region": "ünï"}, {"region": "x", "n": True}]
)
def test_the_headers_sent_upstream_are_the_ones_the_sdk_client_sends(arguments: dict) -> None:
    schema = SCHEMAS["top-level"]
    ours = param_headers.headers_for(param_headers.declared(schema), arguments)
    assert ours == mcp_param_headers(x_mcp_header_map(schema), arguments)
