"""A whole flow with passwords, API tokens and upstream credentials in play, run at DEBUG
with the access log on and JSON lines: no secret used appears in any line the gateway
logs, every line is JSON with the fields that join it to requests, traces and replicas,
and a request's lines carry the `X-Request-Id` it came with (or the one it was given)."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from switchboard_testing.gateway_process import ADMIN_EMAIL, ADMIN_PASSWORD, GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

pytestmark = pytest.mark.e2e

REQUIRED = {"time", "level", "service", "replica", "logger", "message", "request_id", "trace_id", "span_id"}
UPSTREAM_BEARER = "sk-upstream-bearer-4c1f0e"
BASIC_USER, BASIC_PASSWORD = "robot", "basic-pw-7a2d91"
API_KEY = "api-key-header-3e8b5c"
CLIENT_ID, CLIENT_SECRET = "switchboard", "oauth-client-secret-6f0a2b"
USER_PASSWORD = "second-user-password-91c3"
WRONG_PASSWORD = "wrong-password-guess-55e7"
BASIC_ENCODED = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
FORGED_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.Zm9yZ2VkLXNpZ25hdHVyZQ"


@dataclass
class Flow:
    """What the flow used and sent, and what the gateway logged."""

    secrets: set[str] = field(default_factory=set)
    sent_ids: dict[str, str] = field(default_factory=dict)  # request id → route it asked
    given_id: str = ""
    lines: list[str] = field(default_factory=list)


class Client:
    """Requests to the gateway, each with a request id of the test's (`rid`) or none."""

    def __init__(self, gateway: GatewayProcess, flow: Flow, http: httpx.Client) -> None:
        self.http = http
        self.flow = flow
        self.count = 0

    def send(
        self, method: str, path: str, *, token: str | None = None, route: str = "", **kw
    ) -> httpx.Response:
        self.count += 1
        rid = f"e2e-logs-{self.count}"
        self.flow.sent_ids[rid] = route or path
        headers = {"x-request-id": rid} | ({"authorization": f"Bearer {token}"} if token else {})
        response = self.http.request(method, path, headers=headers, **kw)
        assert response.headers["x-request-id"] == rid
        return response


def _register(client: Client, token: str, name: str, url: str, auth: dict) -> None:
    answer = client.send("POST", "/gateways", token=token, json={"name": name, "url": url, "auth": auth})
    assert answer.status_code == 201, answer.text


def _call_each(gateway: GatewayProcess, token: str, names: list[str]) -> None:
    mcp = McpHttp(f"{gateway.base_url}/mcp", token)
    mcp.initialize()
    for name in names:
        answer = mcp.call_tool(f"{name}__echo", {"text": f"hello {name}"})
        assert answer["result"]["content"][0]["text"] == f"hello {name}", answer


def _refused(gateway: GatewayProcess, token: str) -> bool:
    answer = httpx.post(
        f"{gateway.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"},
        trust_env=False,
    )
    return answer.status_code == 401


@pytest.fixture(scope="module")
def flow() -> Iterator[Flow]:
    flow = Flow(secrets={ADMIN_PASSWORD, UPSTREAM_BEARER, BASIC_PASSWORD, API_KEY, CLIENT_SECRET})
    flow.secrets |= {USER_PASSWORD, WRONG_PASSWORD, FORGED_TOKEN, BASIC_ENCODED}
    env = {
        "SWITCHBOARD_LOG_LEVEL": "debug",
        "SWITCHBOARD_ACCESS_LOG": "true",
        "SWITCHBOARD_LOG_FORMAT": "json",
    }
    with (
        contextlib.ExitStack() as stack,
        start_upstream(name="b", accept_headers=(f"authorization: Bearer {UPSTREAM_BEARER}",)) as bearer_up,
        start_upstream(name="p", accept_headers=(f"authorization: Basic {BASIC_ENCODED}",)) as basic_up,
        start_upstream(name="h", accept_headers=(f"x-api-key: {API_KEY}",)) as headers_up,
        start_upstream(name="o", oauth_client=f"{CLIENT_ID}:{CLIENT_SECRET}") as oauth_up,
        start_gateway(env, separate_stderr=True) as gateway,
    ):
        client = Client(
            gateway, flow, stack.enter_context(httpx.Client(base_url=gateway.base_url, trust_env=False))
        )
        login = client.send("POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        session_token = login.json()["access_token"]
        refused = client.send("POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": WRONG_PASSWORD})
        assert refused.status_code == 401
        user = client.send(
            "POST",
            "/auth/users",
            token=session_token,
            json={"email": "b@example.com", "password": USER_PASSWORD},
        )
        assert user.status_code == 201, user.text
        assert client.send(
            "POST", "/auth/login", json={"email": "b@example.com", "password": USER_PASSWORD}
        ).is_success
        minted = client.send("POST", "/auth/tokens", token=session_token, json={"name": "e2e-logs"})
        assert minted.status_code == 201, minted.text
        api_token, api_token_id = minted.json()["access_token"], minted.json()["id"]
        doomed = client.send("POST", "/auth/tokens", token=session_token, json={"name": "e2e-doomed"}).json()
        flow.secrets |= {session_token, api_token, doomed["access_token"], login.json()["access_token"]}
        flow.secrets.add(
            client.send(
                "POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            ).json()["access_token"]
        )

        _register(client, api_token, "viabearer", bearer_up.url, {"type": "bearer", "token": UPSTREAM_BEARER})
        _register(
            client,
            api_token,
            "viabasic",
            basic_up.url,
            {"type": "basic", "username": BASIC_USER, "password": BASIC_PASSWORD},
        )
        _register(
            client,
            api_token,
            "viaheader",
            headers_up.url,
            {"type": "headers", "headers": {"X-Api-Key": API_KEY}},
        )
        oauth = {"type": "oauth2", "token_url": f"{oauth_up.base_url}/token", "client_id": CLIENT_ID}
        _register(client, api_token, "viaoauth", oauth_up.url, oauth | {"client_secret": CLIENT_SECRET})
        _call_each(gateway, api_token, ["viabearer", "viabasic", "viaheader", "viaoauth"])
        _call_each(gateway, doomed["access_token"], ["viabearer"])

        assert client.send("GET", "/auth/me", token=FORGED_TOKEN).status_code == 401
        assert _refused(gateway, FORGED_TOKEN)
        revoked = client.send(
            "DELETE", f"/auth/tokens/{doomed['id']}", token=api_token, route="/auth/tokens/{token_id}"
        )
        assert revoked.status_code == 204
        eventually(lambda: _refused(gateway, doomed["access_token"]), what="the revoked token refused")
        assert client.send("GET", "/gateways", token=doomed["access_token"]).status_code == 401
        # A token a client puts in the query string: refused (no route has such a parameter),
        # its value neither echoed nor logged.
        in_query = client.send("GET", "/gateways", token=api_token, params={"access_token": api_token})
        assert in_query.status_code == 422 and api_token not in in_query.text

        unnamed = httpx.get(f"{gateway.base_url}/auth/me", headers={"authorization": f"Bearer {api_token}"})
        flow.given_id = unnamed.headers["x-request-id"]
        assert api_token_id  # used for nothing more: the id of a token is no secret
        issued = httpx.get(f"{oauth_up.base_url}/seen", trust_env=False).json()["authorization"]
        flow.secrets |= {value.removeprefix("Bearer ") for value in issued}
        assert gateway.stop() == 0
        flow.lines = gateway.stderr_lines()
        flow.secrets |= _stored_secrets(gateway.data_dir)
    yield flow


def _stored_secrets(data_dir: Path) -> set[str]:
    """What the gateway keeps of its secrets: password hashes, sealed signing keys and
    upstream credentials, and the key sealing them. None of it belongs in a log line."""
    found = set()
    for database, query in [
        ("auth.db", "SELECT password_hash FROM users"),
        ("auth.db", "SELECT private_key_pem FROM signing_keys"),
        ("registry.db", "SELECT auth_sealed FROM gateways WHERE auth_sealed IS NOT NULL"),
    ]:
        with contextlib.closing(sqlite3.connect(data_dir / database)) as db:
            found |= {row[0] for row in db.execute(query)}
    keys = (data_dir / "secret.keys").read_text().split()
    found |= {entry.partition(":")[2] for entry in keys}
    assert len(found) >= 2 + 1 + 4 + 1, found
    return found


def _events(flow: Flow) -> list[dict]:
    return [orjson.loads(line) for line in flow.lines]


def test_no_secret_used_in_the_flow_appears_in_any_log_line(flow: Flow) -> None:
    assert len(flow.lines) > 50
    leaks = [(secret, line) for line in flow.lines for secret in flow.secrets if secret in line]
    assert not leaks, "\n".join(f"{secret!r} in {line}" for secret, line in leaks[:5])


def test_every_log_line_is_json_with_the_required_fields(flow: Flow) -> None:
    for event in _events(flow):
        assert REQUIRED <= event.keys(), event
        assert event["service"] == "auth,registry,metrics,mcp-proxy" and event["replica"]


def test_a_requests_lines_carry_the_request_id_the_client_sent(flow: Flow) -> None:
    access = {e["request_id"]: e for e in _events(flow) if e["logger"] == "switchboard.access"}
    for rid, route in flow.sent_ids.items():
        assert rid in access, f"no access line for {rid} ({route})"
        assert access[rid]["route"] == route, access[rid]
        assert {"method", "status", "duration_s", "bytes", "client"} <= access[rid].keys()
    debug_lines = [
        e
        for e in _events(flow)
        if e["request_id"].startswith("e2e-logs-") and e["logger"] != "switchboard.access"
    ]
    assert debug_lines, "only the access log named the requests"


def test_a_request_that_came_without_an_id_is_logged_under_the_one_returned(flow: Flow) -> None:
    lines = [e for e in _events(flow) if e["request_id"] == flow.given_id]
    assert flow.given_id and [e["route"] for e in lines if e["logger"] == "switchboard.access"] == [
        "/auth/me"
    ]
