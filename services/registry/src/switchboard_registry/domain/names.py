"""Naming rules: gateway names, upstream URLs, and the names tools are exposed by.

A tool is exposed as `<gateway>__<tool>` (its qualified name) unless a virtual server
asks for bare upstream names. Collisions and names past the 64 characters many MCP
clients accept are refused when the configuration is made, never at call time. A
gateway name may not contain the separator, so a qualified name splits one way only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from urllib.parse import urlsplit

from switchboard_core.errors import Conflict, InvalidInput

SEPARATOR = "__"
MAX_EXPOSED_NAME = 64
MAX_SERVER_NAME = 100
MAX_URL = 2048
_GATEWAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def check_gateway_name(name: str) -> str:
    if not _GATEWAY_NAME.fullmatch(name):
        raise InvalidInput(
            f"gateway name {name!r} is invalid: "
            "use 1 to 32 letters, digits, '_' or '-', starting with a letter or digit"
        )
    if SEPARATOR in name:
        raise InvalidInput(f"gateway name {name!r} is invalid: it may not contain {SEPARATOR!r}")
    return name


def check_upstream_url(url: str) -> str:
    if len(url) > MAX_URL or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise InvalidInput(
            f"upstream url {url!r} is invalid: at most {MAX_URL} characters, without spaces or control characters"
        )
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:
        raise InvalidInput(f"upstream url {url!r} is invalid: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InvalidInput(
            f"upstream url {url!r} is invalid: it must be an http:// or https:// URL with a host"
        )
    return url


def check_server_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_SERVER_NAME:
        raise InvalidInput(f"server name must be 1 to {MAX_SERVER_NAME} characters")
    return name


def qualified_name(gateway_name: str, tool_name: str) -> str:
    return f"{gateway_name}{SEPARATOR}{tool_name}"


def split_qualified(ref: str) -> tuple[str, str] | None:
    """`gateway__tool` → (gateway, tool); None when `ref` is not a qualified name."""
    gateway, sep, tool = ref.partition(SEPARATOR)
    return (gateway, tool) if sep and gateway and tool else None


def check_lengths(names: Iterable[str], *, where: str) -> None:
    too_long = [n for n in names if len(n) > MAX_EXPOSED_NAME]
    if too_long:
        raise InvalidInput(
            f"{where}: tool names longer than {MAX_EXPOSED_NAME} characters would be exposed: "
            f"{', '.join(too_long)}",
            data={"too_long": too_long},
        )


def check_unique(exposed: Iterable[tuple[str, str]], *, where: str) -> None:
    """`exposed` pairs an exposed name with the qualified name of the tool behind it."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for name, qualified in exposed:
        by_name[name].append(qualified)
    clashes = {name: tools for name, tools in by_name.items() if len(tools) > 1}
    if clashes:
        listed = "; ".join(
            f"{' and '.join(tools)} share the name {name!r}" for name, tools in clashes.items()
        )
        raise Conflict(
            f"{where}: exposed tool names clash: {listed}; "
            "leave bare_names off or choose tools with distinct names",
            data={"clashing": clashes},
        )
