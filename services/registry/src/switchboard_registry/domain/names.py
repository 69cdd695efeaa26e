"""Naming rules: gateway names, upstream URLs, qualified names, what may be exposed.

A tool or prompt's qualified name is `<gateway>__<name>`: that is how the catalog of
everything (`/mcp`) exposes it and how administrators refer to it. A gateway name
may not contain the separator, so a qualified name splits one way only. Names past
the 64 characters many MCP clients accept are refused when the configuration is
made, never at call time. How virtual servers name things is `naming.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from switchboard_core.errors import InvalidInput
from switchboard_mcp.upstream.urls import url_problem

SEPARATOR = "__"
MAX_EXPOSED_NAME = 64
MAX_SERVER_NAME = 100
MAX_URL = 2048
_GATEWAY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_PRINTABLE_NAME = re.compile(r"[^\s\x00-\x1f\x7f]+")


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
    if problem := url_problem(url):
        raise InvalidInput(f"upstream url {url!r} is invalid: {problem}")
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


def too_long(names: Iterable[str]) -> list[str]:
    return [n for n in names if len(n) > MAX_EXPOSED_NAME]


def unprintable(names: Iterable[str]) -> list[str]:
    """Names a client could not show or type: empty, or with spaces or control characters."""
    return [n for n in names if not _PRINTABLE_NAME.fullmatch(n)]


def check_exposed(names: Iterable[str], *, noun: str, where: str) -> None:
    """Refuse names no client should be shown (the 64-character limit, spaces)."""
    names = list(names)
    if long := too_long(names):
        raise InvalidInput(
            f"{where}: {noun} names longer than {MAX_EXPOSED_NAME} characters would be exposed: "
            f"{', '.join(long)}",
            data={"too_long": long},
        )
    if bad := unprintable(names):
        raise InvalidInput(
            f"{where}: {noun} names with spaces or control characters would be exposed: "
            f"{', '.join(map(repr, bad))}",
            data={"unprintable": bad},
        )
