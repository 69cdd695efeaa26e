"""Turning what an administrator wrote into ids: tools, prompts, resources, gateways.

Tools and prompts are named by id or by qualified name (`gateway__name`); resources
and resource templates by id or by URI (URI template), which must then be offered by
one gateway only; gateways by id or by name. Each answer keeps the order given,
without repeats; unknown references are refused together, listed. What the caller
may not see (`access`) is unknown to them: naming it is refused the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import InvalidInput

from switchboard_registry.domain.access import Viewer
from switchboard_registry.domain.models import Prompt, Resource, Tool
from switchboard_registry.domain.names import split_qualified
from switchboard_registry.store.gateways import gateway_refs
from switchboard_registry.store.listings import (
    RESOURCES,
    TEMPLATES,
    Kind,
    items_by_id,
    items_by_key,
    items_by_qualified_key,
)


async def named_items(
    s: AsyncSession, kind: Kind[Tool] | Kind[Prompt], refs: Sequence[str], viewer: Viewer
) -> list[str]:
    """Ids of the tools (or prompts) `refs` name."""
    refs = _cleaned(refs)
    by_id = {item.id for item in await items_by_id(s, kind, refs, viewer)}
    wanted = {ref: split_qualified(ref) for ref in refs if ref not in by_id}
    pairs = {pair for pair in wanted.values() if pair is not None}
    by_name = {
        (item.gateway_name, item.name): item.id
        for item in await items_by_qualified_key(s, kind, pairs, viewer)
    }
    _refuse_unknown(f"{kind.noun}s", [ref for ref, pair in wanted.items() if pair not in by_name])
    return _unique([ref if ref in by_id else by_name[wanted[ref]] for ref in refs])  # type: ignore[index]


async def resource_items(s: AsyncSession, refs: Sequence[str], viewer: Viewer) -> tuple[list[str], list[str]]:
    """Ids of the resources and of the resource templates `refs` name."""
    refs = _cleaned(refs)
    found: dict[str, tuple[str, str]] = {}  # ref → (kind noun, id)
    for kind in (RESOURCES, TEMPLATES):
        for item in await items_by_id(s, kind, refs, viewer):
            found[item.id] = (kind.noun, item.id)
    by_uri: dict[str, list[tuple[str, Resource]]] = {}
    for kind in (RESOURCES, TEMPLATES):
        for item in await items_by_key(s, kind, [ref for ref in refs if ref not in found], viewer):
            by_uri.setdefault(item.uri, []).append((kind.noun, item))
    ambiguous = {uri: [item.id for _, item in offers] for uri, offers in by_uri.items() if len(offers) > 1}
    if ambiguous:
        listed = "; ".join(
            f"{uri!r} is offered by {' and '.join(f'{item.gateway_name} ({item.id})' for _, item in by_uri[uri])}"
            for uri in ambiguous
        )
        raise InvalidInput(
            f"ambiguous resources: {listed}; refer to each by id", data={"ambiguous": ambiguous}
        )
    found |= {uri: (offers[0][0], offers[0][1].id) for uri, offers in by_uri.items()}
    _refuse_unknown("resources", [ref for ref in refs if ref not in found])
    chosen = _unique_pairs([found[ref] for ref in refs])
    return (
        [item_id for noun, item_id in chosen if noun == RESOURCES.noun],
        [item_id for noun, item_id in chosen if noun == TEMPLATES.noun],
    )


async def gateway_ids(s: AsyncSession, refs: Sequence[str], viewer: Viewer) -> list[str]:
    refs = _cleaned(refs)
    known = await gateway_refs(s, refs, viewer)
    ids = {g.id: g.id for g in known} | {g.name: g.id for g in known}
    _refuse_unknown("gateways", [ref for ref in refs if ref not in ids])
    return _unique([ids[ref] for ref in refs])


def _cleaned(refs: Sequence[str]) -> list[str]:
    return [ref.strip() for ref in refs]


def _refuse_unknown(nouns: str, unknown: list[str]) -> None:
    if unknown:
        raise InvalidInput(f"unknown {nouns}: {', '.join(map(repr, unknown))}", data={"unknown": unknown})


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _unique_pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return list(dict.fromkeys(pairs))
