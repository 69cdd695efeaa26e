"""Who may see and change what: owners, teams and visibility, decided by `policy.decide`.

Every gateway, server, tool, resource and prompt carries an `Access` (owner, team,
visibility). A caller sees an entity when `decide(caller, "<kind>.read", entity)`
allows it; an entity the caller cannot see does not exist for them (404, and an
unknown reference when named in a server), while one seen but not theirs to change
is refused (403, with the decision's reason). Token scopes come first: a token whose
scopes leave out the permission is refused with 403 whatever the entity.

Listings filter in SQL (`Viewer`, see `store.visible`) so pages count only what the
caller sees; `Viewer` is `decide`'s rules for a read permission, written as sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from switchboard_core.errors import InvalidInput, NotFound, PermissionDenied
from switchboard_core.policy import VISIBILITIES, Actor, Entity, Membership, Target, decide

from switchboard_registry.domain.models import Access

# How far each visibility reaches: an item is never more visible than its gateway.
REACH = {visibility: rank for rank, visibility in enumerate(VISIBILITIES)}


class Caller(Actor, Protocol):
    """A signed-in caller: a `Principal`, whose personal team new entities go to by default."""

    personal_team_id: str


@dataclass(frozen=True, slots=True)
class _Registry:
    """The registry itself (health checks, upstreams' announcements): sees and changes everything."""

    user_id: str = ""
    is_admin: bool = True
    scopes: tuple[str, ...] = ()
    memberships: tuple[Membership, ...] = ()
    personal_team_id: str = ""


SYSTEM: Caller = _Registry()


@dataclass(frozen=True, slots=True)
class Viewer:
    """What a listing shows a caller: everything, or the public, what their teams hold
    (with the read permission) not private to someone else."""

    user_id: str
    teams: frozenset[str]
    everything: bool = False


@dataclass(frozen=True, slots=True)
class ItemViewers:
    """What a caller sees of each kind of item, for the item counts shown with a gateway
    or a server: a count never includes what its reader cannot see."""

    tools: Viewer
    resources: Viewer
    prompts: Viewer


_ALL = Viewer("", frozenset(), everything=True)
ALL_ITEMS = ItemViewers(_ALL, _ALL, _ALL)


def item_viewers(who: Actor) -> ItemViewers:
    """By the caller's roles, whatever its token's scopes (they limit what it may do, and
    are checked where it does it; what exists for it is the user's)."""
    if who.is_admin:
        return ALL_ITEMS

    def of(permission: str) -> Viewer:
        return Viewer(
            who.user_id, frozenset(m.team_id for m in who.memberships if permission in m.permissions)
        )

    return ItemViewers(of("tools.read"), of("resources.read"), of("prompts.read"))


def viewer(who: Actor, permission: str) -> Viewer:
    _check_scope(who, permission)
    if who.is_admin:
        return Viewer(who.user_id, frozenset(), everything=True)
    teams = frozenset(m.team_id for m in who.memberships if permission in m.permissions)
    return Viewer(who.user_id, teams)


def seen(who: Actor, permission: str, entity: Entity, what: str) -> None:
    """NotFound (named `what`) unless `who` may see `entity`; 403 for a token lacking the scope."""
    decision = decide(who, permission, entity)
    if not decision:
        _check_scope(who, permission)
        raise NotFound(f"no {what}")


def require(who: Actor, permission: str, entity: Entity) -> None:
    decision = decide(who, permission, entity)
    if decision.missing_scope:
        raise PermissionDenied(decision.reason, data={"scope": decision.missing_scope}, permission=permission)
    if not decision:
        raise PermissionDenied(decision.reason, permission=permission)


def chosen(who: Caller, permission: str, *, team_id: str | None, visibility: str | None) -> Access:
    """The access of an entity `who` creates: in `team_id` (default: their personal team),
    `visibility` (default "team"), owned by them; PermissionDenied if they may not."""
    visibility = visibility or "team"
    checked_visibility(visibility)
    team = team_id if team_id is not None else who.personal_team_id
    if not team:
        raise InvalidInput("name the team (team_id) the new entity belongs to")
    require(who, permission, Target(team_id=team, owner_id=who.user_id, visibility=visibility))
    return Access(who.user_id, team, visibility)


def changed(
    who: Actor, permission: str, current: Access, *, team_id: str | None, visibility: str | None
) -> Access:
    """`current` with a new team and/or visibility: `who` needs `permission` on the entity
    as it is and as it would be."""
    require(who, permission, current)
    if visibility is not None:
        checked_visibility(visibility)
    new = Access(
        current.owner_id,
        current.team_id if team_id is None else team_id,
        current.visibility if visibility is None else visibility,
    )
    if new.team_id != current.team_id:
        require(
            who, permission, Target(team_id=new.team_id, owner_id=new.owner_id, visibility=new.visibility)
        )
    return new


def checked_visibility(visibility: str) -> str:
    if visibility not in REACH:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    return visibility


def _check_scope(who: Actor, permission: str) -> None:
    if who.scopes and permission not in who.scopes:
        raise PermissionDenied(
            f"the token's scopes do not include {permission}",
            data={"scope": permission},
            permission=permission,
        )
