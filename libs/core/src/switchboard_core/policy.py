"""Who may do what: one table of permissions, the built-in roles, one function deciding.

Every access decision in every service is `decide(principal, permission, entity)`. The
auth service resolves, when it verifies a token, which teams the user belongs to, the
role held in each and what that role permits (built-in or custom); the principal
carries that, so a decision is a few set lookups on what the caller already cached:
no call to auth per request.

The rules, in order:

1. A token limited to scopes allows nothing outside them (`insufficient_scope`).
2. A platform administrator may do anything else.
3. Platform permissions (users, roles, audit) belong to administrators only.
4. Anyone signed in may read and use what is `public`.
5. What is `team` (or `public`) is open to members of its team, as far as their role
   there permits; what is `private` to its owner, as far as the owner's role in the
   entity's team permits.
6. Without an entity (listing, creating in a team the caller names), the permission
   must be granted by some membership (for creating: one in the target team, which
   the caller passes as the entity's team).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Visibility = Literal["private", "team", "public"]
VISIBILITIES: tuple[Visibility, ...] = ("private", "team", "public")

PERMISSIONS: dict[str, str] = {
    "gateways.read": "see upstream gateways",
    "gateways.create": "register upstream gateways",
    "gateways.update": "change or refresh upstream gateways",
    "gateways.delete": "remove upstream gateways",
    "servers.read": "see virtual servers",
    "servers.create": "compose virtual servers",
    "servers.update": "change virtual servers",
    "servers.delete": "remove virtual servers",
    "servers.use": "connect to a virtual server's MCP endpoint",
    "tools.read": "list tools",
    "tools.execute": "call tools",
    "resources.read": "list and read resources",
    "prompts.read": "list and get prompts",
    "metrics.read": "query metrics",
    "teams.read": "see a team and its members",
    "teams.manage": "add, remove and change members of a team; rename or delete it",
    "users.manage": "create, change and delete users",
    "roles.manage": "create, change and delete custom roles",
    "audit.read": "query the audit log",
}

PLATFORM_PERMISSIONS = frozenset({"users.manage", "roles.manage", "audit.read"})
TEAM_PERMISSIONS = frozenset(PERMISSIONS) - PLATFORM_PERMISSIONS
READ_PERMISSIONS = frozenset(p for p in PERMISSIONS if p.endswith(".read")) - PLATFORM_PERMISSIONS
# What anyone signed in may do with a public entity.
PUBLIC_PERMISSIONS = frozenset(READ_PERMISSIONS | {"servers.use", "tools.execute"}) - {"teams.read"}

PLATFORM_ADMIN = "platform_admin"
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    PLATFORM_ADMIN: frozenset(PERMISSIONS),
    "team_admin": TEAM_PERMISSIONS,
    "developer": frozenset(
        READ_PERMISSIONS
        | {"servers.use", "tools.execute"}
        | {f"{kind}.{verb}" for kind in ("gateways", "servers") for verb in ("create", "update", "delete")}
    ),
    "viewer": frozenset(READ_PERMISSIONS | {"servers.use"}),
}
# Roles a team membership may hold (the platform role is `is_admin`, not a membership).
TEAM_ROLES = tuple(name for name in BUILTIN_ROLES if name != PLATFORM_ADMIN)


class Entity(Protocol):
    """What a decision is about: any registry entity (gateway, tool, server, ...)."""

    owner_id: str
    team_id: str
    visibility: str


@dataclass(frozen=True, slots=True)
class Target:
    """An entity that does not exist yet (being created) or is known only by these."""

    team_id: str
    owner_id: str = ""
    visibility: str = "team"


@dataclass(frozen=True, slots=True)
class Membership:
    team_id: str
    role: str
    permissions: frozenset[str]


class Actor(Protocol):
    user_id: str
    is_admin: bool
    scopes: tuple[str, ...]
    memberships: tuple[Membership, ...]


@dataclass(frozen=True, slots=True)
class Unscoped:
    """An actor as its roles make it, whatever its token's scopes: for deciding what it
    may see in a list, where the scopes are checked on their own, once."""

    user_id: str
    is_admin: bool
    memberships: tuple[Membership, ...]
    scopes: tuple[str, ...] = ()


def unscoped(actor: Actor) -> Unscoped:
    return Unscoped(actor.user_id, actor.is_admin, actor.memberships)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    # Set when the token's scopes were what stood in the way (RFC 6750 insufficient_scope).
    missing_scope: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def decide(actor: Actor, permission: str, entity: Entity | None = None) -> Decision:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    if actor.scopes and permission not in actor.scopes:
        return Decision(False, f"the token's scopes do not include {permission}", missing_scope=permission)
    if actor.is_admin:
        return Decision(True, "platform administrator")
    if permission in PLATFORM_PERMISSIONS:
        return Decision(False, f"{permission} needs a platform administrator")
    if entity is None:
        if any(permission in m.permissions for m in actor.memberships):
            return Decision(True, "granted by a team role")
        return Decision(False, f"no role of the caller's grants {permission}")
    if entity.visibility == "public" and permission in PUBLIC_PERMISSIONS:
        return Decision(True, "public")
    if entity.visibility == "private" and entity.owner_id != actor.user_id:
        return Decision(False, "private to its owner")
    role = next((m for m in actor.memberships if m.team_id == entity.team_id), None)
    if role is None:
        return Decision(False, "not a member of the owning team")
    if permission not in role.permissions:
        return Decision(False, f"the role {role.role!r} does not grant {permission}")
    return Decision(True, f"granted by the role {role.role!r}")


def unknown_permissions(permissions: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
    return sorted(set(permissions) - set(PERMISSIONS))
