"""`Mcp-Param-*` headers of the stateless revision (2026-07-28).

A tool's input schema may mark a top-level (or nested, through `properties` only)
string, integer or boolean property with `"x-mcp-header": "<Token>"`; a `tools/call`
then mirrors that argument in an `Mcp-Param-<Token>` header so intermediaries can
route on it without reading the body. The gateway is both ends of that rule: it
checks what its own clients send against the body, and sends the headers to
upstreams that speak the revision.

A schema with any misplaced or malformed annotation declares nothing (conforming
clients drop such a tool and send no headers), so it is neither checked nor mirrored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard_mcp.stateless_wire import decode_header_value, encode_header_value

ANNOTATION = "x-mcp-header"
PREFIX = "mcp-param-"

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PRIMITIVES = frozenset({"string", "integer", "boolean"})
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# JSON Schema keywords whose values are schemas (off the `properties` chain).
_ONE_SCHEMA = (
    "items",
    "contains",
    "unevaluatedItems",
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("patternProperties", "dependentSchemas", "$defs", "definitions")


@dataclass(frozen=True, slots=True)
class ParamHeader:
    """One annotated property: where it sits in the arguments and what it is called."""

    path: tuple[str, ...]
    token: str
    type: str

    @property
    def header(self) -> str:
        return PREFIX + self.token.lower()


@dataclass(frozen=True, slots=True)
class Mismatch:
    message: str


def declared(schema: Any) -> tuple[ParamHeader, ...]:
    """The headers a tool's schema declares; empty when it declares none or any
    annotation is invalid."""
    found: list[ParamHeader] = []
    seen: set[str] = set()
    for path, position in _positions(schema):
        if ANNOTATION not in position:
            continue
        token, kind = position[ANNOTATION], position.get("type")
        if (
            not path
            or not isinstance(token, str)
            or not _TOKEN.fullmatch(token)
            or kind not in _PRIMITIVES
            or token.lower() in seen
        ):
            return ()
        seen.add(token.lower())
        found.append(ParamHeader(path, token, kind))
    return tuple(found)


def headers_for(params: Iterable[ParamHeader], arguments: Any) -> dict[str, str]:
    """The `Mcp-Param-*` headers a call with `arguments` carries (absent values send none)."""
    headers: dict[str, str] = {}
    for param in params:
        rendered = _render(_value_at(arguments, param.path))
        if rendered is not None:
            headers[f"Mcp-Param-{param.token}"] = encode_header_value(rendered)
    return headers


def check(
    params: Iterable[ParamHeader], arguments: Any, raw_headers: Iterable[tuple[bytes, bytes]]
) -> Mismatch | None:
    """The first disagreement between a call's `Mcp-Param-*` headers and its arguments.

    Header and argument must come together and agree (an integer compares by value),
    or both be absent; a declared header sent twice is a mismatch too."""
    params = tuple(params)
    if not params:
        return None
    wanted = {param.header for param in params}
    sent: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name not in wanted:
            continue
        if name in sent:
            return Mismatch(f"the Mcp-Param-{name[len(PREFIX) :]} header appears more than once")
        sent[name] = raw_value.decode("latin-1")
    for param in params:
        value = _value_at(arguments, param.path)
        raw = sent.get(param.header)
        where = ".".join(param.path)
        if raw is None:
            if value is not None:
                return Mismatch(f"argument {where!r} is not mirrored in the Mcp-Param-{param.token} header")
            continue
        decoded = decode_header_value(raw)
        rendered = _render(value)
        if decoded is None or rendered is None or not _agrees(param.type, value, rendered, decoded):
            return Mismatch(f"the Mcp-Param-{param.token} header does not match argument {where!r}")
    return None


def _agrees(kind: str, value: Any, rendered: str, decoded: str) -> bool:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "integer" and integral and not isinstance(value, bool) and _DECIMAL.fullmatch(decoded):
        whole, _, fraction = decoded.partition(".")
        return not fraction.strip("0") and int(whole) == int(value)
    return decoded == rendered


def _render(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        try:
            return str(value)
        except ValueError:  # an int past the str-conversion digit limit
            return None
    return None


def _value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    node = arguments
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _positions(root: Any) -> Iterator[tuple[tuple[str, ...] | None, dict]]:
    """Every schema position with its chain of `properties` keys from the root (None
    once the walk left that chain). Iterative, so a deep schema cannot exhaust the stack."""
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), root)]
    while stack:
        path, schema = stack.pop()
        if not isinstance(schema, dict):
            continue
        yield path, schema
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for key, child in properties.items():
                stack.append(((*path, key) if path is not None else None, child))
        for keyword in _ONE_SCHEMA:
            if keyword in schema:
                stack.append((None, schema[keyword]))
        for keyword in _SCHEMA_LISTS:
            if isinstance(schema.get(keyword), list):
                stack.extend((None, child) for child in schema[keyword])
        for keyword in _SCHEMA_MAPS:
            if isinstance(schema.get(keyword), dict):
                stack.extend((None, child) for child in schema[keyword].values())
