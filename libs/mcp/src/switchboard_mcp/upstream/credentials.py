"""What an upstream may require of the gateway to be let in, as values.

    Bearer       Authorization: Bearer <token>
    Basic        Authorization: Basic base64(<username>:<password>)
    HeaderSet    headers of the operator's choosing (an API key header, say)
    OAuth2       an access token from an OAuth 2 token endpoint (client credentials
                 grant), sent as a bearer token (`auth.UpstreamAuth` fetches it)

Each turns into JSON to be sealed (`as_json`, `parse_credentials`) and shows only
what is not secret (`public`): user names, header names, token URL and client id.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, ClassVar

# Headers the gateway sets itself or that describe the connection, not the caller.
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "accept",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
        "cookie",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def check_header(name: str, value: str) -> None:
    """ValueError unless `name: value` may be sent to an upstream as a credential."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if name.lower() in FORBIDDEN_HEADERS or name.lower().startswith(("mcp-param-", "sec-")):
        raise ValueError(
            f"the header {name!r} cannot carry a credential (the gateway or the connection sets it)"
        )
    if not value or not _VALUE.fullmatch(value):
        raise ValueError(f"the value of the header {name!r} is empty or holds control characters")


@dataclass(frozen=True, slots=True, repr=False)
class Bearer:
    kind: ClassVar[str] = "bearer"
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def public(self) -> dict[str, Any]:
        return {}

    def as_json(self) -> dict[str, Any]:
        return {"type": self.kind, "token": self.token}


@dataclass(frozen=True, slots=True, repr=False)
class Basic:
    kind: ClassVar[str] = "basic"
    username: str
    password: str

    def headers(self) -> dict[str, str]:
        pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    def public(self) -> dict[str, Any]:
        return {"username": self.username}

    def as_json(self) -> dict[str, Any]:
        return {"type": self.kind, "username": self.username, "password": self.password}


@dataclass(frozen=True, slots=True, repr=False)
class HeaderSet:
    kind: ClassVar[str] = "headers"
    values: tuple[tuple[str, str], ...]

    def headers(self) -> dict[str, str]:
        return dict(self.values)

    def public(self) -> dict[str, Any]:
        return {"header_names": [name for name, _ in self.values]}

    def as_json(self) -> dict[str, Any]:
        return {"type": self.kind, "headers": dict(self.values)}


@dataclass(frozen=True, slots=True, repr=False)
class OAuth2:
    """The client credentials grant (RFC 6749 §4.4); the client authenticates with HTTP
    Basic (§2.3.1), which every token endpoint must accept."""

    kind: ClassVar[str] = "oauth2"
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None

    def token_form(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        return form

    def public(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"token_url": self.token_url, "client_id": self.client_id}
        if self.scope:
            shown["scope"] = self.scope
        if self.audience:
            shown["audience"] = self.audience
        return shown

    def as_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.public(), "client_secret": self.client_secret}


Credentials = Bearer | Basic | HeaderSet | OAuth2
KINDS = (Bearer.kind, Basic.kind, HeaderSet.kind, OAuth2.kind)


def parse_credentials(data: dict[str, Any]) -> Credentials:
    """Credentials from their JSON form (`as_json`); ValueError (naming no secret) if malformed."""
    kind = data.get("type")
    try:
        if kind == Bearer.kind:
            return Bearer(_text(data, "token"))
        if kind == Basic.kind:
            username = _text(data, "username")
            if ":" in username:
                raise ValueError("a basic username cannot hold ':'")
            return Basic(username, _text(data, "password"))
        if kind == HeaderSet.kind:
            headers = data.get("headers")
            if not isinstance(headers, dict) or not headers:
                raise ValueError("headers credentials need at least one header")
            for name, value in headers.items():
                check_header(name, value if isinstance(value, str) else "")
            return HeaderSet(tuple(headers.items()))
        if kind == OAuth2.kind:
            return OAuth2(
                _text(data, "token_url"),
                _text(data, "client_id"),
                _text(data, "client_secret"),
                _optional(data, "scope"),
                _optional(data, "audience"),
            )
    except KeyError as exc:
        raise ValueError(f"{kind} credentials need a non-empty {exc.args[0]!r}") from None
    raise ValueError(f"unknown credential type {kind!r}; one of {', '.join(KINDS)}")


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise KeyError(field)
    return value


def _optional(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    return value if isinstance(value, str) and value else None
