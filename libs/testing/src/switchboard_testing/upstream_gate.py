"""Credentials the fixture upstream can require, and the OAuth 2 token endpoint it can serve.

`CredentialGate` wraps the fixture's ASGI app. Given accepted headers (`--accept-header
'authorization: Bearer t0k3n'`, repeatable: any one of them lets a request in) or an
OAuth 2 client (`--oauth-client id:secret`), every MCP request (`/mcp`, `/sse`,
`/messages/`) must carry one, else HTTP 401. With an OAuth client it serves the token
endpoint `POST /token` (client credentials grant, client authentication by HTTP Basic),
issuing random tokens living `--token-lifetime` seconds, accepted as bearer tokens.

Control and inspection (what tests ask):
- `GET /seen` — `{"authorization": [...], "requests": N, "refused": N, "token_requests": N}`:
  every `Authorization` value MCP requests arrived with, in order;
- `POST /revoke` — forget every token issued (the next MCP request with one gets a 401);
- `POST /accept` with a JSON list of `"name: value"` — accept these headers instead.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

_MCP_PATHS = ("/mcp", "/sse", "/messages")


def parse_header(entry: str) -> tuple[str, str]:
    name, _, value = entry.partition(":")
    return name.strip().lower(), value.strip()


class CredentialGate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        accept: Iterable[str] = (),
        oauth_client: str | None = None,
        token_lifetime_s: float = 3600.0,
    ) -> None:
        self._app = app
        self._accepted = {parse_header(entry) for entry in accept}
        self._client = tuple(oauth_client.split(":", 1)) if oauth_client else None
        self._lifetime = token_lifetime_s
        self._tokens: dict[str, float] = {}
        self._seen: list[str] = []
        self._counts = {"requests": 0, "refused": 0, "token_requests": 0}

    @property
    def guarding(self) -> bool:
        return bool(self._accepted) or self._client is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self._app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        if path == "/seen":
            return await JSONResponse({"authorization": self._seen, **self._counts})(scope, receive, send)
        if path == "/revoke" and method == "POST":
            self._tokens.clear()
            return await PlainTextResponse("")(scope, receive, send)
        if path == "/accept" and method == "POST":
            self._accepted = {parse_header(e) for e in json.loads(await Request(scope, receive).body())}
            return await PlainTextResponse("")(scope, receive, send)
        if path == "/token" and method == "POST" and self._client is not None:
            return await self._issue(scope, receive, send)
        if not path.startswith(_MCP_PATHS):
            return await self._app(scope, receive, send)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        self._counts["requests"] += 1
        self._seen.extend(v for k, v in headers if k == "authorization")
        if self.guarding and not self._admits(headers):
            self._counts["refused"] += 1
            refusal = PlainTextResponse(
                "unauthorized", status_code=401, headers={"www-authenticate": "Bearer"}
            )
            return await refusal(scope, receive, send)
        return await self._app(scope, receive, send)

    def _admits(self, headers: list[tuple[str, str]]) -> bool:
        if any(header in self._accepted for header in headers):
            return True
        now = time.monotonic()
        for name, value in headers:
            scheme, _, token = value.partition(" ")
            if name == "authorization" and scheme.lower() == "bearer" and self._tokens.get(token, 0) > now:
                return True
        return False

    async def _issue(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._counts["token_requests"] += 1
        request = Request(scope, receive)
        form = parse_qs((await request.body()).decode())
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            user = password = ""
        client = (unquote(user), unquote(password))
        if scheme.lower() != "basic" or client != self._client:
            return await JSONResponse({"error": "invalid_client"}, status_code=401)(scope, receive, send)
        if form.get("grant_type") != ["client_credentials"]:
            return await JSONResponse({"error": "unsupported_grant_type"}, status_code=400)(
                scope, receive, send
            )
        token = secrets.token_urlsafe(16)
        self._tokens[token] = time.monotonic() + self._lifetime
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self._lifetime}
        if "scope" in form:
            answer["scope"] = form["scope"][0]
        return await JSONResponse(answer)(scope, receive, send)
