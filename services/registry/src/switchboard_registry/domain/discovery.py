"""Asking an upstream MCP server what it offers: tools, resources, resource templates, prompts.

Resources and prompts are listed only when the upstream's capabilities advertise them.
An upstream whose tools list fails cannot be registered; one that answers a resources
or prompts list with a JSON-RPC error is registered without any of that kind (many
servers advertise more than they implement), and the error is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from switchboard_core.errors import UpstreamError
from switchboard_mcp.upstream import HttpClient, NegotiatingUpstream, Upstream, UpstreamRPCError

from switchboard_registry.domain.names import MAX_URL

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Discovery:
    server_info: dict[str, Any]
    capabilities: dict[str, Any]
    # Each maps the item's key (name, URI or URI template) to the upstream's whole object as JSON text.
    tools: dict[str, str]
    resources: dict[str, str] = field(default_factory=dict)
    resource_templates: dict[str, str] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Listing:
    method: str
    # Where the items are in the result, and which field of each is its key.
    items: str
    key: str
    noun: str
    max_key: int | None = None


_TOOLS = _Listing("tools/list", "tools", "name", "tool")
_RESOURCES = _Listing("resources/list", "resources", "uri", "resource", MAX_URL)
_TEMPLATES = _Listing(
    "resources/templates/list", "resourceTemplates", "uriTemplate", "resource template", MAX_URL
)
_PROMPTS = _Listing("prompts/list", "prompts", "name", "prompt")


async def discover(http: HttpClient, url: str, *, timeout_s: float) -> Discovery:
    """One short session: initialize, list everything advertised, end the session.

    Raises core `UpstreamUnavailable` (unreachable, timed out) or `UpstreamError`
    (not MCP, a JSON-RPC error listing tools, or a malformed list).
    """
    session = NegotiatingUpstream(url, http, timeout_s=timeout_s)
    try:
        tools = await _list(session, _TOOLS)
        capabilities = session.capabilities if isinstance(session.capabilities, dict) else {}
        resources = templates = prompts = {}
        if capabilities.get("resources") is not None:
            resources = await _list_optional(session, _RESOURCES)
            templates = await _list_optional(session, _TEMPLATES)
        if capabilities.get("prompts") is not None:
            prompts = await _list_optional(session, _PROMPTS)
    finally:
        await session.close()
    return Discovery(dict(session.server_info), dict(capabilities), tools, resources, templates, prompts)


def reason(url: str, error: UpstreamError) -> str:
    """Why talking to the upstream failed, for a person to read."""
    if isinstance(error, UpstreamRPCError):
        return f"upstream {url} answered with JSON-RPC error {error.code}: {error.message}"
    return error.message


async def _list_optional(session: Upstream, listing: _Listing) -> dict[str, str]:
    try:
        return await _list(session, listing)
    except UpstreamRPCError as exc:
        logger.warning(
            "upstream %s advertises %ss but %s failed (JSON-RPC error %s: %s); none are registered",
            session.url,
            listing.noun,
            listing.method,
            exc.code,
            exc.message,
        )
        return {}


async def _list(session: Upstream, listing: _Listing) -> dict[str, str]:
    listed = await session.list_all(listing.method, listing.items)
    definitions: dict[str, str] = {}
    for item in listed:
        key = item.get(listing.key) if isinstance(item, dict) else None
        if not isinstance(key, str) or not key:
            raise UpstreamError(f"upstream {session.url} listed a {listing.noun} without a {listing.key}")
        if listing.max_key is not None and len(key) > listing.max_key:
            raise UpstreamError(
                f"upstream {session.url} listed a {listing.noun} whose {listing.key} is longer than "
                f"{listing.max_key} characters"
            )
        if key in definitions:
            raise UpstreamError(f"upstream {session.url} listed the {listing.noun} {key!r} twice")
        definitions[key] = orjson.dumps(item).decode()
    return definitions
