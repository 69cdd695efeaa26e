"""Which records a caller may see: those of tools and servers the catalog shows them now.

A record names its tool as the catalog it was called through exposed it (a server's
catalog, or the catalog of everything when its server is empty). The registry's access
index gives, for the current catalog, each server's access and each tool's under each
name; `policy.decide` says what a caller may do with each, as the proxy decides it:

- a row is shown when the caller may see its tool (`tools.read`) and read its metrics
  (`metrics.read`) and, for a server's row, may do both with the server
  (`servers.read`, `metrics.read`);
- a server asked for by id that the caller may not see is unknown (NotFound, as the
  registry answers); one it sees but whose metrics it may not read is refused;
- what the catalog no longer holds (a deleted server, a renamed tool) is shown to
  administrators only, as the proxy fails closed on what it has no access for;
- visibility is about the user, not the token: a token whose scopes leave out
  `metrics.read` is refused outright.

Administrators see every row without the index being asked for. What one caller sees
is worked out once per index and caller's access, and memoized on the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from switchboard_core.errors import NotFound, PermissionDenied
from switchboard_core.policy import Target, Unscoped, decide, unscoped
from switchboard_core.principals import Principal

PERMISSION = "metrics.read"
MAX_VIEWS = 512  # distinct callers' views kept per index; the oldest goes first

# server id ("" for the catalog of everything) -> the tool names whose rows a caller sees;
# None: every row.
Visible = Mapping[str, frozenset[str]] | None


@dataclass(frozen=True, slots=True)
class ServerTools:
    # None for the catalog of everything, which has no access of its own.
    access: Target | None
    # Exposed name -> the tool's access.
    tools: Mapping[str, Target]


@dataclass(slots=True)
class AccessIndex:
    """The registry's `AccessIndex`: each server's access and its tools' by exposed name."""

    revision: int
    # By server id; "" is the catalog of everything (no access of its own).
    servers: Mapping[str, ServerTools]
    views: dict[tuple, dict[str, frozenset[str]]] = field(default_factory=dict)


class AccessSource(Protocol):
    async def index(self) -> AccessIndex: ...


class Visibility:
    def __init__(self, source: AccessSource) -> None:
        self._source = source

    async def visible(self, caller: Principal, server_id: str = "") -> Visible:
        """The rows `caller` may see, of `server_id`'s if given (which it must see)."""
        decision = decide(caller, PERMISSION)
        if decision.missing_scope:
            raise PermissionDenied(
                decision.reason, data={"scope": decision.missing_scope}, permission=PERMISSION
            )
        if caller.is_admin:
            return None
        actor = unscoped(caller)
        index = await self._source.index()
        if server_id:
            _check_server(actor, index.servers.get(server_id), server_id)
        rows = _view(index, actor)
        if server_id:
            return {server_id: rows[server_id]} if server_id in rows else {}
        return rows


def _check_server(actor: Unscoped, server: ServerTools | None, server_id: str) -> None:
    if server is None or server.access is None or not decide(actor, "servers.read", server.access):
        raise NotFound(f"no server {server_id!r}")
    decision = decide(actor, PERMISSION, server.access)
    if not decision:
        raise PermissionDenied(
            f"{PERMISSION} is not granted on server {server_id!r}: {decision.reason}",
            data={"permission": PERMISSION},
            permission=PERMISSION,
        )


def _view(index: AccessIndex, actor: Unscoped) -> dict[str, frozenset[str]]:
    key = (actor.user_id, actor.memberships)
    view = index.views.get(key)
    if view is not None:
        return view
    view = {}
    for server_id, server in index.servers.items():
        if server.access is not None and not _reads(actor, "servers.read", server.access):
            continue
        names = frozenset(
            name for name, access in server.tools.items() if _reads(actor, "tools.read", access)
        )
        if names:
            view[server_id] = names
    if len(index.views) >= MAX_VIEWS:
        del index.views[next(iter(index.views))]
    index.views[key] = view
    return view


def _reads(actor: Unscoped, permission: str, access: Target) -> bool:
    return bool(decide(actor, permission, access)) and bool(decide(actor, PERMISSION, access))
