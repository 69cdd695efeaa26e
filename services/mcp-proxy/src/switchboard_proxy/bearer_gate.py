"""The door of every MCP HTTP endpoint: bearer tokens in the Authorization header only,
challenges as RFC 6750 and the MCP authorization spec (RFC 9728) word them.

- An `Origin` that is not loopback nor in SWITCHBOARD_ALLOWED_ORIGINS (DNS rebinding:
  a page from elsewhere reaching a gateway by a name it resolves to): 403, before the
  token is looked at. A request without `Origin` (not a browser's) passes.
- No token: 401 `WWW-Authenticate: Bearer resource_metadata="<metadata URL>"`.
- A token refused: the same with `error="invalid_token"`.
- A token in the query string (`?access_token=`, ...): 400 `error="invalid_request"`,
  and the token is not even looked at.
- A token whose limits forbid the request: 403, with `error="insufficient_scope",
  scope="<missing permission>"` when a scope is what is missing.
- A caller over its rate limit (`switchboard_core.rate_limits`, counted here for every
  MCP request of every transport): 429 with `Retry-After: <seconds>`.
- A virtual server the caller may not see: 404, as for one that does not exist; one it
  sees but may not use (`servers.use`): 403 (`catalog_views.check_server`, decided on
  the cached catalog). This is the one decision for an HTTP request: the dispatcher
  does not make it again.

The metadata URL is the endpoint's own (`resource_metadata.metadata_url`). Bodies are
JSON-RPC errors, so MCP clients can show what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from switchboard_core.errors import RateLimited, SwitchboardError, Unauthenticated, status_of
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.principals import Principal, PrincipalCache, bearer_token
from switchboard_core.rate_limits import RateLimiter
from switchboard_mcp import jsonrpc

from switchboard_proxy import access_rules, catalog_views
from switchboard_proxy.access_rules import Problem
from switchboard_proxy.catalog import CatalogCache
from switchboard_proxy.http_replies import reply
from switchboard_proxy.resource_metadata import metadata_url

# Query parameters that smell of a credential (RFC 6750 §2.3 names access_token).
_CREDENTIAL_PARAMETERS = frozenset(
    {"access_token", "token", "api_key", "apikey", "api-key", "auth", "authorization", "bearer", "jwt"}
)
FORBIDDEN = -32003  # the JSON-RPC code of PermissionDenied (switchboard_core.errors.STATUS)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: int
    message: str
    challenge: str | None = None
    data: dict | None = None
    retry_after_s: int = 0

    async def send(self, send, request_id=None) -> None:
        extra = [(b"www-authenticate", self.challenge.encode("latin-1"))] if self.challenge else []
        if self.retry_after_s:
            extra.append((b"retry-after", str(self.retry_after_s).encode()))
        await reply(
            send, self.status, jsonrpc.error(request_id, self.code, self.message, self.data), extra or None
        )


class BearerGate:
    def __init__(
        self,
        principals: PrincipalCache,
        trust: ProxyTrust,
        limits: RateLimiter | None,
        catalogs: CatalogCache,
        *,
        allowed_origins: Iterable[str],
    ) -> None:
        self._principals = principals
        self._trust = trust
        self._limits = limits
        self._catalogs = catalogs
        self._allowed_origins = frozenset(allowed_origins)

    async def admit(self, scope, headers: dict[str, str], server_id: str) -> Principal | Refusal:
        """The caller, if its token is good and may reach this endpoint from where it is."""
        if not self._origin_allowed(headers.get("origin")):
            return Refusal(403, jsonrpc.INVALID_REQUEST, "Origin not allowed")
        if _credential_in_query(scope):
            return Refusal(
                400,
                jsonrpc.INVALID_REQUEST,
                "tokens are accepted only in the Authorization header",
                self._challenge(scope, headers, after='error="invalid_request"'),
            )
        try:
            principal = await self._principals.authenticate(bearer_token(headers.get("authorization")))
        except Unauthenticated as exc:
            given = "authorization" in headers
            challenge = self._challenge(scope, headers, after='error="invalid_token"' if given else "")
            return Refusal(401, status_of(exc)[2], exc.message, challenge)
        except SwitchboardError as exc:
            code = status_of(exc)
            return Refusal(code[0], code[2], exc.message)
        problem = access_rules.connect_problem(
            principal, server_id, lambda: self._trust.client_address(scope, headers)
        )
        if problem is not None:
            return self.forbidden(scope, headers, problem)
        if self._limits is not None:
            try:
                self._limits.check(principal)
            except RateLimited as exc:
                code = status_of(exc)
                return Refusal(code[0], code[2], exc.message, data=exc.data, retry_after_s=exc.retry_after_s)
        if server_id:
            try:
                catalog_views.check_server(principal, await self._catalogs.get(server_id))
            except SwitchboardError as exc:
                code = status_of(exc)
                return Refusal(code[0], code[2], exc.message, data=exc.data)
        return principal

    def refusal_of(self, scope, headers: dict[str, str], principal: Principal, message) -> Refusal | None:
        """Why this one JSON-RPC request may not be made with the caller's token, if it may not."""
        if not principal.scopes or not isinstance(message, dict) or "id" not in message:
            return None
        problem = access_rules.method_problem(principal, message)
        return None if problem is None else self.forbidden(scope, headers, problem)

    def forbidden(self, scope, headers: dict[str, str], problem: Problem) -> Refusal:
        if not problem.missing_scope:
            return Refusal(403, FORBIDDEN, problem.message)
        challenge = self._challenge(
            scope, headers, before=f'error="insufficient_scope", scope="{problem.missing_scope}"'
        )
        return Refusal(403, FORBIDDEN, problem.message, challenge, {"scope": problem.missing_scope})

    def _origin_allowed(self, origin: str | None) -> bool:
        if origin is None or origin in self._allowed_origins or "*" in self._allowed_origins:
            return True
        try:
            return urlsplit(origin).hostname in _LOOPBACK_HOSTS
        except ValueError:  # not a URL at all (an unbalanced "[")
            return False

    def _challenge(self, scope, headers: dict[str, str], *, before: str = "", after: str = "") -> str:
        url = metadata_url(self._trust.base_url(scope, headers), scope.get("root_path", "") + scope["path"])
        return "Bearer " + ", ".join(p for p in (before, f'resource_metadata="{url}"', after) if p)


def _credential_in_query(scope) -> bool:
    query = scope.get("query_string", b"")
    if not query:
        return False
    names = {name.lower() for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
    return not names.isdisjoint(_CREDENTIAL_PARAMETERS)
