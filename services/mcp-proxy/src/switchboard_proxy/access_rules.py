"""What a token's limits allow on the MCP endpoints: which permission each MCP method
needs, and whether a principal may connect to a server from an address.

Decisions about permissions go through `switchboard_core.policy.decide`, whose first
rule is the token's scopes. Only a scope refusal is acted on here: what the user's
roles allow on a given tool, resource or server depends on that entity's visibility,
and is decided where the entity is known (the catalog). The token's servers and
networks are checked here too. Everything is read from the cached principal; the
networks are parsed once per distinct list, not per request.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from switchboard_core.http.forwarded import IPAddress
from switchboard_core.policy import decide
from switchboard_core.principals import Principal

CONNECT_PERMISSION = "servers.use"
# The permission each MCP method needs besides CONNECT_PERMISSION (methods not named
# here, such as ping or logging/setLevel, need only that).
METHOD_PERMISSIONS: dict[str, str] = {
    "tools/list": "tools.read",
    "tools/call": "tools.execute",
    "resources/list": "resources.read",
    "resources/read": "resources.read",
    "resources/templates/list": "resources.read",
    "resources/subscribe": "resources.read",
    "resources/unsubscribe": "resources.read",
    "prompts/list": "prompts.read",
    "prompts/get": "prompts.read",
}
# completion/complete completes a prompt's or a resource template's argument.
_COMPLETION_PERMISSIONS = {"ref/prompt": "prompts.read", "ref/resource": "resources.read"}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a request is refused (always 403: the caller is known, the token forbids)."""

    message: str
    missing_scope: str = ""


def permission_of(message: dict) -> str | None:
    method = message.get("method")
    if method == "completion/complete":
        params = message.get("params")
        ref = params.get("ref") if isinstance(params, dict) else None
        return _COMPLETION_PERMISSIONS.get(ref.get("type")) if isinstance(ref, dict) else None
    return METHOD_PERMISSIONS.get(method)


def method_problem(principal: Principal, message: dict) -> Problem | None:
    """The scope a request's method needs and the token lacks, if any."""
    if not principal.scopes:
        return None
    permission = permission_of(message)
    return None if permission is None else _scope_problem(principal, permission)


def connect_problem(
    principal: Principal, server_id: str, client: Callable[[], IPAddress | None]
) -> Problem | None:
    """Whether the token may reach `server_id` ("" for /mcp, every server) from the
    client's address (asked for only when the token names networks)."""
    if principal.scopes:
        problem = _scope_problem(principal, CONNECT_PERMISSION)
        if problem is not None:
            return problem
    if principal.allowed_servers and server_id not in principal.allowed_servers:
        where = f"server {server_id!r}" if server_id else "the all-servers endpoint"
        return Problem(f"this token is not allowed to use {where}")
    if principal.allowed_cidrs:
        address = client()
        if address is None or not any(address in net for net in networks(principal.allowed_cidrs)):
            return Problem("this token is not allowed from the client's address")
    return None


def _scope_problem(principal: Principal, permission: str) -> Problem | None:
    decision = decide(principal, permission)
    if decision.missing_scope:
        return Problem(f"insufficient scope: the token lacks {permission}", decision.missing_scope)
    return None


@functools.lru_cache(maxsize=4096)
def networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The parsed networks of a token's list (the auth service stored them canonical;
    one that is not parses as nothing, so it allows nothing)."""
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return tuple(parsed)
