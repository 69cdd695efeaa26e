"""What a request may carry, bounded at the edge of a real embedded gateway: bodies cut
off with 413 before they are read whole (with or without Content-Length), fields and
query parameters past real use refused with 422, never a 500; and every response, REST
or MCP, names its request id."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from switchboard_core.http.params import MAX_OFFSET
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

LIMIT = 1024 * 1024  # SWITCHBOARD_MAX_BODY_BYTES's default


def _exchange(gateway: GatewayProcess, head: str, body_parts: list[bytes]) -> tuple[int, dict]:
    """Send a request's head and then only `body_parts` (never a whole oversized body),
    and read the answer the gateway gives meanwhile."""
    address = urlsplit(gateway.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(head.encode())
        for part in body_parts:
            conn.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    return status, orjson.loads(body[: _expected_length(answer) - len(head_part) - 4])


def _expected_length(answer: bytes) -> int:
    head, sep, _ = answer.partition(b"\r\n\r\n")
    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(head) + len(sep) + int(found.group(1)) if sep and found else 1 << 62


def _head(admin_token: str, path: str, *framing: str) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {admin_token}",
        "Content-Type: application/json",
        *framing,
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_10_mb_body_is_answered_413_before_the_gateway_reads_it_whole(
    gateway: GatewayProcess, admin_token: str
) -> None:
    head = _head(admin_token, "/servers", f"Content-Length: {10 * 1024 * 1024}")
    # Only 64 KiB of the 10 MB announced is ever sent: the answer cannot wait for the rest.
    status, body = _exchange(gateway, head, [b'{"name": "big", "description": "' + b"x" * 65536])
    assert status == 413
    assert body["error"] == "TooLarge" and f"{LIMIT} bytes" in body["detail"]


def test_a_chunked_body_past_the_limit_is_answered_413_as_it_streams_in(
    gateway: GatewayProcess, admin_token: str
) -> None:
    head = _head(admin_token, "/servers", "Transfer-Encoding: chunked")
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    # 1.5 MiB of chunks and no last chunk: the gateway answers without the end of the body.
    status, body = _exchange(gateway, head, [chunk] * 24)
    assert status == 413
    assert body["error"] == "TooLarge"


def test_40_mb_bodies_sent_whole_are_refused_without_growing_the_gateway(
    gateway: GatewayProcess, admin: httpx.Client
) -> None:
    before = _resident_kib(gateway)
    for _ in range(3):
        response = admin.post("/servers", content=b"x" * (40 * 1024 * 1024))
        assert response.status_code == 413
    # The probe saw +195 MB for one such body when it was read whole.
    assert _resident_kib(gateway) - before < 10 * 1024
    assert admin.get("/servers").status_code == 200


def _resident_kib(gateway: GatewayProcess) -> int:
    status = Path(f"/proc/{gateway.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n" * 101}, "name"),
        ({"name": "ok", "description": "d" * 8193}, "description"),
        ({"name": "ok", "tools": ["t" * 2049]}, "tools"),
        ({"name": "ok", "tools": ["x"] * 1001}, "tools"),
    ],
    ids=["name", "description", "tool-reference", "tool-count"],
)
def test_server_fields_past_their_size_bounds_are_422(admin: httpx.Client, body: dict, field: str) -> None:
    response = admin.post("/servers", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1\\@example.com/mcp",
        "http://a\\b/mcp",
        "http://user@127.0.0.1/mcp",
        "http://127.0.0.1/a b",
    ],
)
def test_a_gateway_url_that_is_not_plain_http_is_422(admin: httpx.Client, url: str) -> None:
    response = admin.post("/gateways", json={"name": "odd", "url": url})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "url"]


def _list_operations(gateway: GatewayProcess) -> list[str]:
    document = httpx.get(f"{gateway.base_url}/openapi.json", timeout=30).json()
    paths = []
    for path, item in document["paths"].items():
        parameters = item.get("get", {}).get("parameters", [])
        if any(p["name"] == "offset" and p["in"] == "query" for p in parameters):
            paths.append(re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path))
    return sorted(paths)


def test_every_list_operation_of_the_gateway_is_covered(gateway: GatewayProcess) -> None:
    # The parametrized test below names them; one added later must be added there too.
    assert _list_operations(gateway) == sorted(LIST_PATHS)


LIST_PATHS = [
    "/auth/audit",
    "/auth/teams",
    "/auth/teams/00000000-0000-0000-0000-000000000000/members",
    "/auth/tokens",
    "/auth/users",
    "/gateways",
    "/metrics/rollups",
    "/prompts",
    "/resource-templates",
    "/resources",
    "/servers",
    "/tools",
]


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("offset", [2**63, 2**64, MAX_OFFSET + 1, -1])
def test_an_offset_past_its_bound_is_422_on_every_list(admin: httpx.Client, path: str, offset: int) -> None:
    response = admin.get(path, params={"offset": offset})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]


@pytest.mark.parametrize("path", ["/metrics/tools", "/metrics/summary", "/metrics/rollups"])
def test_a_metrics_time_past_its_bound_is_422(admin: httpx.Client, path: str) -> None:
    response = admin.get(path, params={"since": 2**63})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


@pytest.mark.parametrize(
    "params",
    [{"since": "9999-12-31T23:59:59-14:00"}, {"until": "0001-01-01T00:00:00+14:00"}],
    ids=["after-9999", "before-year-1"],
)
def test_an_audit_time_past_the_years_a_datetime_holds_in_utc_is_422(
    admin: httpx.Client, params: dict
) -> None:
    response = admin.get("/auth/audit", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", *params]


def test_an_offset_at_its_bound_is_an_empty_page(admin: httpx.Client) -> None:
    response = admin.get("/servers", params={"offset": MAX_OFFSET})
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_every_answer_names_a_request_id_and_keeps_the_one_it_was_sent(
    gateway: GatewayProcess, admin: httpx.Client
) -> None:
    rest = admin.get("/servers")
    mcp = httpx.post(
        f"{gateway.base_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=30
    )
    kept = admin.get("/servers", headers={"x-request-id": "probe-42"})
    assert re.fullmatch(r"[0-9a-f]{32}", rest.headers["x-request-id"])
    assert mcp.status_code == 401 and mcp.headers["x-request-id"] != rest.headers["x-request-id"]
    assert kept.headers["x-request-id"] == "probe-42"


def test_a_5xx_is_logged_under_the_request_id_its_answer_names(
    gateway: GatewayProcess, admin: httpx.Client
) -> None:
    with start_upstream(name="leaving") as upstream:
        registered = admin.post("/gateways", json={"name": "leaving", "url": upstream.url})
        assert registered.status_code == 201
    # The upstream is gone: refreshing it is a 503 the gateway answers and must log.
    refused = admin.post(f"/gateways/{registered.json()['id']}/refresh")
    assert refused.status_code == 503
    rid = refused.headers["x-request-id"]
    assert refused.json()["request_id"] == rid
    line = f"POST /gateways/{registered.json()['id']}/refresh failed (request id {rid})"
    eventually(lambda: line in gateway.log(), what="the 503 in the gateway's log")
    assert gateway.log().count(f"request id {rid}") == 1
