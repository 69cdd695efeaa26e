"""The 2026-07-28 ladder agrees with the official SDK's, case by case; listen streams
deliver only what was asked for and end when their client stops reading."""

from __future__ import annotations

import pytest
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request, encode_header_value
from switchboard_proxy import stateless_rules as rules
from switchboard_proxy.listen_streams import BACKLOG_LIMIT, ListenStreams

META = {rules.PROTOCOL_VERSION_META_KEY: "2026-07-28", rules.CLIENT_CAPABILITIES_META_KEY: {}}


def _call(name: str, meta: dict | None = META) -> dict:
    params: dict = {"name": name}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}


CASES = {
    "agreeing": (
        _call("a"),
        {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "a"},
    ),
    "no meta": (_call("a", None), {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}),
    "half meta": (_call("a", {rules.PROTOCOL_VERSION_META_KEY: "2026-07-28"}), {}),
    "no version header": (_call("a"), {"mcp-method": "tools/call", "mcp-name": "a"}),
    "other method": (_call("a"), {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"}),
    "other name": (
        _call("a"),
        {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "b"},
    ),
    "encoded name": (
        _call("ünï"),
        {
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": encode_header_value("ünï"),
        },
    ),
    "bad sentinel": (
        _call("a"),
        {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "=?base64?!!?="},
    ),
    "unknown version": (
        _call("a", {**META, rules.PROTOCOL_VERSION_META_KEY: "2099-01-01"}),
        {"mcp-protocol-version": "2099-01-01", "mcp-method": "tools/call", "mcp-name": "a"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_ladder_rejects_what_the_sdk_rejects_with_the_same_code(case: str) -> None:
    body, headers = CASES[case]
    ours = rules.classify(body, headers)
    theirs = classify_inbound_request(body, headers=headers)
    if isinstance(theirs, InboundLadderRejection):
        assert isinstance(ours, rules.Rejection)
        assert ours.code == theirs.code
    else:
        assert isinstance(ours, rules.Envelope)
        assert ours.protocol_version == theirs.protocol_version


def test_the_envelope_keys_are_not_sent_upstream_but_a_progress_token_is() -> None:
    body = _call("a", {**META, "progressToken": "p"})
    assert rules.for_upstream(body)["params"] == {"name": "a", "_meta": {"progressToken": "p"}}
    assert rules.for_upstream(_call("a"))["params"] == {"name": "a"}


def test_cacheable_results_get_hints_and_every_result_a_type_and_server_info() -> None:
    info = {"name": "switchboard", "version": "0"}
    listed = rules.as_stateless_result("tools/list", {"tools": []}, info)
    assert listed == {
        "ttlMs": 0,
        "cacheScope": "private",
        "tools": [],
        "resultType": "complete",
        "_meta": {rules.SERVER_INFO_META_KEY: info},
    }
    called = rules.as_stateless_result("tools/call", {"content": [], "_meta": {"k": 1}}, info)
    assert "ttlMs" not in called
    assert called["_meta"] == {"k": 1, rules.SERVER_INFO_META_KEY: info}


async def test_a_listen_stream_gets_only_the_kinds_it_asked_for() -> None:
    streams = ListenStreams()
    # Only the resources the caller could subscribe to upstream are honored.
    stream = streams.open(
        "l-1", "", {"toolsListChanged": True, "resourceSubscriptions": ["x://y", "x://z"]}, ["x://y"]
    )
    assert stream.honored == {"toolsListChanged": True, "resourceSubscriptions": ["x://y"]}
    streams.announce_list_changes()
    assert stream.queue.get_nowait()["method"] == "notifications/tools/list_changed"
    assert stream.queue.empty()
    updated = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "x://y"}}
    streams.route_update("x://z", {**updated, "params": {"uri": "x://z"}})
    streams.route_update("x://y", updated)
    assert stream.queue.get_nowait() == updated
    assert stream.queue.empty()
    assert streams.wanting("x://y") and not streams.wanting("x://y", besides=stream)


async def test_a_stream_whose_client_stopped_reading_is_ended() -> None:
    streams = ListenStreams()
    stream = streams.open("l-1", "", {"toolsListChanged": True})
    for _ in range(BACKLOG_LIMIT + 1):
        streams.announce_list_changes()
    items = [stream.queue.get_nowait() for _ in range(stream.queue.qsize())]
    assert items[-1] is None
    assert stream.overflowed
