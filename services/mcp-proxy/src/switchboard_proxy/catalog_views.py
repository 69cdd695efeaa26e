"""What one caller may see and do of a cached catalog.

A catalog is the registry's, one for every caller; each entry, and the server, carries
its owner, team and visibility, and `policy.decide` says what a caller may do with it.

- Lists are filtered once per catalog and caller's access (the user, the admin flag
  and the memberships: all that decides visibility) and memoized on the catalog
  object, a bounded dict per catalog: in the steady state a list is one dict lookup.
  A change replaces the catalog, hence its views.
- A call decides on its one entry: a dict lookup in the catalog and one `decide`,
  memoized nowhere (no key to build).
- What a caller may not see is reported as unknown, in the very words used for a name
  no catalog has, so a refusal never tells that an entity exists; what it sees but
  may not use is refused with the permission it lacks.

Visibility is about the user, not the token: it is decided without the token's scopes
(`policy.unscoped`), which limit what the token may do and are checked on their own
(`access_rules`, 403 `insufficient_scope`).
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_core.counters import COUNTERS
from switchboard_core.errors import NotFound, PermissionDenied
from switchboard_core.policy import Target, Unscoped, decide, unscoped
from switchboard_core.principals import Principal

from switchboard_proxy.catalog import Catalog

MAX_VIEWS = 512  # distinct callers' views kept per catalog; the oldest goes first
# What a caller needs to see an entry at all (its reading permission).
READ_OF = {
    "tools.execute": "tools.read",
    "tools.read": "tools.read",
    "resources.read": "resources.read",
    "prompts.read": "prompts.read",
    "servers.use": "servers.read",
}


@dataclass(frozen=True, slots=True)
class View:
    """The lists of one catalog as one caller may see them."""

    tools: list[dict]
    prompts: list[dict]
    resources: list[dict]
    templates: list[dict]


def view_of(catalog: Catalog, principal: Principal) -> View:
    key = (principal.user_id, principal.is_admin, principal.memberships)
    view = catalog.views.get(key)
    if view is not None:
        COUNTERS.add("cache.views.hits")
        return view
    COUNTERS.add("cache.views.misses")
    actor = unscoped(principal)
    if actor.is_admin:
        view = View(
            catalog.tools,
            catalog.prompts,
            _first_per(catalog.resources, "uri"),
            _first_per(catalog.templates, "uriTemplate"),
        )
    else:
        view = View(
            _readable(actor, "tools.read", catalog.tools, catalog.tool_access),
            _readable(actor, "prompts.read", catalog.prompts, catalog.prompt_access),
            _first_per(_readable(actor, "resources.read", catalog.resources, catalog.resource_access), "uri"),
            _first_per(
                _readable(actor, "resources.read", catalog.templates, catalog.template_access), "uriTemplate"
            ),
        )
    if len(catalog.views) >= MAX_VIEWS:
        del catalog.views[next(iter(catalog.views))]
    catalog.views[key] = view
    return view


def _readable(actor: Unscoped, permission: str, entries: list[dict], access: list[Target]) -> list[dict]:
    return [entry for entry, target in zip(entries, access, strict=True) if decide(actor, permission, target)]


def _first_per(entries: list[dict], key: str) -> list[dict]:
    """One entry per URI (or template): the first, as `Catalog.resource` serves it.
    Several gateways may offer one URI; each caller is shown the first it may read."""
    seen: set = set()
    first = []
    for entry in entries:
        if (name := entry.get(key)) not in seen:
            seen.add(name)
            first.append(entry)
    return first


def sees(principal: Principal, permission: str, access: Target) -> bool:
    """Whether the caller may know the entity exists (`permission`'s reading permission)."""
    actor = unscoped(principal)
    return decide(actor, READ_OF[permission], access).allowed


class Hidden(Exception):
    """The caller may not see the entity: answer as for one that does not exist."""


def require(principal: Principal, permission: str, access: Target, what: str) -> None:
    """Return if the caller may do `permission` on the entity `what` names; raise Hidden
    if it may not even see it, PermissionDenied naming the permission otherwise."""
    decision = decide(principal, permission, access)
    if decision.allowed:
        return
    if decision.missing_scope:
        raise PermissionDenied(
            f"insufficient scope: the token lacks {permission}", data={"scope": permission}
        )
    if not sees(principal, permission, access):
        raise Hidden(what)
    raise PermissionDenied(
        f"{permission} is not granted on {what}: {decision.reason}", data={"permission": permission}
    )


def check_server(principal: Principal, catalog: Catalog) -> None:
    """Whether the caller may connect to the catalog's server: NotFound (as for an
    unknown server) if it may not see it, PermissionDenied if it may not use it."""
    if catalog.server_access is None:
        return
    try:
        require(principal, "servers.use", catalog.server_access, f"server '{catalog.server_id}'")
    except Hidden:
        raise NotFound(f"no server '{catalog.server_id}'") from None
