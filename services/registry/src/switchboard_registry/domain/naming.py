"""How a virtual server names what it exposes, and what it may not expose.

A tool or prompt is exposed under its rename if the server has one for it (keyed by
the item's id or its qualified name `gateway__name`), else under the upstream's name,
prefixed by `<gateway><separator>` in "prefix" mode (the default, separator `__`) or
bare in "bare" mode. A rename keyed by a qualified name applies to the tool and the
prompt of that name alike; tools and prompts are separate namespaces.

Resources and resource templates are never renamed: a client reads them by URI.

What a server exposes is checked whenever it could change (creation, update, and a
refresh of a gateway it includes): every name within the 64 characters many clients
accept and free of spaces, no two tools (nor two prompts) under one name, no URI (nor
URI template) from two gateways. Clashes are refused then, never found at call time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from switchboard_core.errors import Conflict, InvalidInput

from switchboard_registry.domain.models import (
    Contents,
    Naming,
    Prompt,
    PromptBinding,
    Resource,
    Tool,
    ToolBinding,
)
from switchboard_registry.domain.names import MAX_EXPOSED_NAME, too_long, unprintable

MODES = ("prefix", "bare")
_SEPARATOR = re.compile(r"[A-Za-z0-9_.-]{1,5}")
_RENAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_EXPOSED_NAME}}}")
_Item = TypeVar("_Item", Tool, Prompt, Resource)


def naming_of(
    *,
    mode: str | None = None,
    separator: str | None = None,
    renames: Mapping[str, str] | None = None,
    bare_names: bool | None = None,
    base: Naming | None = None,
) -> Naming:
    """`base` with the parts given replaced; `bare_names` is shorthand for mode "bare".

    InvalidInput for an unknown mode, a separator outside `[A-Za-z0-9_.-]{1,5}`, a
    rename to a name outside `[A-Za-z0-9_.-]{1,64}`, or `bare_names` contradicting `mode`.
    """
    base = base or Naming()
    if bare_names is not None:
        implied = "bare" if bare_names else "prefix"
        if mode is not None and mode != implied:
            raise InvalidInput(f"bare_names={str(bare_names).lower()} contradicts naming mode {mode!r}")
        mode = implied
    mode = base.mode if mode is None else mode
    if mode not in MODES:
        raise InvalidInput(f"naming mode {mode!r} is invalid: use 'prefix' or 'bare'")
    separator = base.separator if separator is None else separator
    if not _SEPARATOR.fullmatch(separator):
        raise InvalidInput(f"separator {separator!r} is invalid: use 1 to 5 letters, digits, '_', '.' or '-'")
    renames = dict(base.renames) if renames is None else _checked_renames(renames)
    return Naming(mode, separator, renames)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class NamingChange:
    """The parts of a server's naming to set; None leaves a part as it is."""

    mode: str | None = None
    separator: str | None = None
    renames: Mapping[str, str] | None = None

    def applied_to(self, base: Naming, *, bare_names: bool | None = None) -> Naming:
        return naming_of(
            mode=self.mode, separator=self.separator, renames=self.renames, bare_names=bare_names, base=base
        )


def _checked_renames(renames: Mapping[str, str]) -> dict[str, str]:
    cleaned = {ref.strip(): name for ref, name in renames.items()}
    bad = sorted(name for name in cleaned.values() if not _RENAME.fullmatch(name))
    if bad:
        raise InvalidInput(
            f"renames to {', '.join(map(repr, bad))} are invalid: "
            f"use 1 to {MAX_EXPOSED_NAME} letters, digits, '_', '.' or '-'",
            data={"invalid_names": bad},
        )
    return cleaned


def exposed_name(naming: Naming, item: Tool | Prompt) -> str:
    renamed = naming.renames.get(item.id) or naming.renames.get(item.qualified_name)
    if renamed:
        return renamed
    return item.name if naming.mode == "bare" else f"{item.gateway_name}{naming.separator}{item.name}"


def compose(
    naming: Naming,
    *,
    tools: Iterable[Tool],
    resources: Iterable[Resource],
    resource_templates: Iterable[Resource],
    prompts: Iterable[Prompt],
) -> Contents:
    """What a server exposes: each item once (first mention wins), named by `naming`."""
    return Contents(
        tools=[ToolBinding(exposed_name(naming, t), t) for t in _once(tools)],
        resources=_once(resources),
        resource_templates=_once(resource_templates),
        prompts=[PromptBinding(exposed_name(naming, p), p) for p in _once(prompts)],
    )


def _once(items: Iterable[_Item]) -> list[_Item]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            kept.append(item)
    return kept


def unmatched_renames(naming: Naming, contents: Contents) -> list[str]:
    """Rename keys that name no tool or prompt the server exposes."""
    items: list[Tool | Prompt] = [b.tool for b in contents.tools] + [b.prompt for b in contents.prompts]
    known = {i.id for i in items} | {i.qualified_name for i in items}
    return [ref for ref in naming.renames if ref not in known]


def doubly_renamed(naming: Naming, contents: Contents) -> list[str]:
    """Qualified names of items renamed both by id and by qualified name."""
    items: list[Tool | Prompt] = [b.tool for b in contents.tools] + [b.prompt for b in contents.prompts]
    return sorted(
        {i.qualified_name for i in items if i.id in naming.renames and i.qualified_name in naming.renames}
    )


@dataclass(frozen=True, slots=True)
class Problems:
    """What is wrong with the names a server would expose; empty when nothing is."""

    too_long: list[str] = field(default_factory=list)
    unprintable: list[str] = field(default_factory=list)
    # Exposed name (or URI) → the references of the items sharing it.
    tools: dict[str, list[str]] = field(default_factory=dict)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    resources: dict[str, list[str]] = field(default_factory=dict)
    resource_templates: dict[str, list[str]] = field(default_factory=dict)

    @property
    def bad_names(self) -> bool:
        return bool(self.too_long or self.unprintable)

    @property
    def clashes(self) -> bool:
        return bool(self.tools or self.prompts or self.resources or self.resource_templates)

    def __bool__(self) -> bool:
        return self.bad_names or self.clashes

    def describe(self) -> str:
        parts = []
        if self.too_long:
            parts.append(
                f"names longer than {MAX_EXPOSED_NAME} characters would be exposed: {', '.join(self.too_long)}"
            )
        if self.unprintable:
            parts.append(
                "names with spaces or control characters would be exposed: "
                f"{', '.join(map(repr, self.unprintable))}"
            )
        parts += _clashes("exposed tool names clash", "share the name", self.tools)
        parts += _clashes("exposed prompt names clash", "share the name", self.prompts)
        parts += _clashes("resource URIs clash", "share the URI", self.resources)
        parts += _clashes("resource template URIs clash", "share the URI template", self.resource_templates)
        return "; ".join(parts)

    def data(self) -> dict[str, Any]:
        found = {
            "too_long": self.too_long,
            "unprintable": self.unprintable,
            "clashing": self.tools,
            "clashing_prompts": self.prompts,
            "clashing_resources": self.resources,
            "clashing_resource_templates": self.resource_templates,
        }
        return {key: value for key, value in found.items() if value}

    def raise_for(self, where: str) -> None:
        """InvalidInput for names no client should see, else Conflict for clashes."""
        if self.bad_names:
            raise InvalidInput(f"{where}: {self.describe()}", data=self.data())
        if self.clashes:
            raise Conflict(
                f"{where}: {self.describe()}; rename them, use the prefix naming mode, "
                "or leave one of them out",
                data=self.data(),
            )


def problems(contents: Contents) -> Problems:
    names = [b.name for b in contents.tools] + [b.name for b in contents.prompts]
    return Problems(
        too_long=too_long(names),
        unprintable=unprintable(names),
        tools=_shared((b.name, b.tool.qualified_name) for b in contents.tools),
        prompts=_shared((b.name, b.prompt.qualified_name) for b in contents.prompts),
        resources=_shared((r.uri, r.id) for r in contents.resources),
        resource_templates=_shared((r.uri, r.id) for r in contents.resource_templates),
    )


def _shared(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Keys held by more than one reference, with those references."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for key, ref in pairs:
        by_key[key].append(ref)
    return {key: refs for key, refs in by_key.items() if len(refs) > 1}


def _clashes(title: str, verb: str, clashes: Mapping[str, Sequence[str]]) -> list[str]:
    if not clashes:
        return []
    listed = "; ".join(f"{' and '.join(refs)} {verb} {key!r}" for key, refs in clashes.items())
    return [f"{title}: {listed}"]
