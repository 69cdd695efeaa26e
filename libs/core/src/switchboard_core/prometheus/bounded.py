"""A cap on the label values callers can cause.

Server ids and tool names come from the catalog, which administrators (and upstreams)
grow: one histogram series set per (server, name) pair would let a catalog of 100,000
tools make 1.2 million series. `BoundedLabels` admits the first `cap` distinct keys it
sees; every later one is folded into `OVERFLOW`, so a dashboard still counts those calls
(as `name="_other"`) and the series count stays bounded. Admitted keys stay admitted for
the process's life (a series that vanished mid-graph would read as a drop to zero).
"""

from __future__ import annotations

OVERFLOW = "_other"
DEFAULT_CAP = 2000


class BoundedLabels:
    __slots__ = ("_cap", "_admitted", "_servers", "folded")

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        if cap < 0:
            raise ValueError("cap must be zero or more")
        self._cap = cap
        self._admitted: set[tuple[str, str]] = set()
        self._servers: set[str] = set()
        self.folded = 0

    def admit(self, server: str, name: str) -> tuple[str, str]:
        """The label values to record `(server, name)` under: themselves while the cap
        allows; past it, the server with `OVERFLOW` for the name when the server already
        has series of its own (an operator asks first which server), else `OVERFLOW` for
        both (so a thousand servers cannot make a thousand overflow series either)."""
        key = (server, name)
        if key in self._admitted:
            return key
        if len(self._admitted) < self._cap:
            self._admitted.add(key)
            self._servers.add(server)
            return key
        self.folded += 1
        return (server if server in self._servers else OVERFLOW, OVERFLOW)
