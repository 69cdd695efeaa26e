"""What a scoped API token is limited to: permissions (its scopes), virtual servers and
client networks. Empty means no limit of that kind.

The limits only narrow what the owner's roles grant (`switchboard_core.policy.decide`
applies the scopes first; the proxy enforces servers and networks). A token minted
with a limited token is held to that token's limits: it may narrow them, never widen
them, so a leaked scoped token cannot buy an unlimited one.
"""

from __future__ import annotations

import ipaddress
import re

from switchboard_core.errors import InvalidInput, PermissionDenied
from switchboard_core.policy import unknown_permissions
from switchboard_core.principals import Principal

from switchboard_auth.store.api_tokens import NO_LIMITS, TokenLimits

__all__ = ["NO_LIMITS", "TokenLimits", "check_within", "validated"]

MAX_ENTRIES = 100
# Registry ids are UUIDs; anything printable without spaces or slashes is accepted, so
# a token may name a server that is yet to be created.
_SERVER_ID = re.compile(r"[A-Za-z0-9._:~-]{1,64}")


def validated(
    scopes: list[str] | None = None, servers: list[str] | None = None, cidrs: list[str] | None = None
) -> TokenLimits:
    """The limits asked for, checked and normalized (sorted, without duplicates; networks
    in their canonical form), or InvalidInput naming every value that is wrong."""
    scopes, servers, cidrs = scopes or [], servers or [], cidrs or []
    for kind, values in (("scopes", scopes), ("servers", servers), ("cidrs", cidrs)):
        if len(values) > MAX_ENTRIES:
            raise InvalidInput(f"a token names at most {MAX_ENTRIES} {kind}")
    unknown = unknown_permissions(scopes)
    if unknown:
        raise InvalidInput(f"unknown scopes: {', '.join(unknown)}", data={"unknown_scopes": unknown})
    bad_servers = sorted({s for s in servers if not _SERVER_ID.fullmatch(s)})
    if bad_servers:
        raise InvalidInput(f"invalid server ids: {', '.join(map(repr, bad_servers))}")
    networks, bad_cidrs = [], []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            bad_cidrs.append(cidr)
    if bad_cidrs:
        raise InvalidInput(f"invalid networks (CIDR): {', '.join(map(repr, bad_cidrs))}")
    return TokenLimits(
        tuple(sorted(set(scopes))),
        tuple(sorted(set(servers))),
        tuple(sorted({str(n) for n in networks})),
    )


def check_within(limits: TokenLimits, actor: Principal) -> None:
    """PermissionDenied unless `limits` are as narrow as the actor's own token's."""
    if actor.scopes and not (limits.scopes and set(limits.scopes) <= set(actor.scopes)):
        raise PermissionDenied("a scoped token may mint only tokens within its own scopes")
    if actor.allowed_servers and not (limits.servers and set(limits.servers) <= set(actor.allowed_servers)):
        raise PermissionDenied("a token limited to servers may mint only tokens within those servers")
    if actor.allowed_cidrs:
        own = [ipaddress.ip_network(c) for c in actor.allowed_cidrs]
        asked = [ipaddress.ip_network(c) for c in limits.cidrs]
        if not asked or not all(any(_inside(a, o) for o in own) for a in asked):
            raise PermissionDenied("a token limited to networks may mint only tokens within those networks")


def _inside(network: ipaddress.IPv4Network | ipaddress.IPv6Network, outer) -> bool:
    return network.version == outer.version and network.subnet_of(outer)
