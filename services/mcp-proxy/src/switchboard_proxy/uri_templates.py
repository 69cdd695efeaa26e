"""Matching a concrete URI against RFC 6570 URI templates (the subset MCP servers use),
to route resources/read, subscribe and completion to the upstream owning a template."""

from __future__ import annotations

import re

_EXPRESSION = re.compile(r"\{([+#./;?&]?)([^}]+)\}")


def compile_template(template: str) -> re.Pattern[str]:
    """A regex matching every URI the template can expand to."""
    parts: list[str] = []
    position = 0
    for match in _EXPRESSION.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        operator = match.group(1)
        if operator in ("+", "#"):
            parts.append(".*")
        elif operator in ("?", "&"):
            parts.append(r"(?:[?&][^#]*)?")
        elif operator in (".", "/", ";"):
            parts.append(r"(?:" + re.escape(operator) + r"[^/?#]*)*")
        else:
            parts.append(r"[^/?#]+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts) + r"\Z")
