"""Free TCP ports on loopback for servers started by tests and benchmarks.

`free_port` picks one below the kernel's ephemeral range, so it is not taken by an
outgoing connection before the server binds it (see switchboard_core.ports). Servers
started on it should still be waited on (and fail loudly) rather than assumed to have bound.
"""

from __future__ import annotations

from switchboard_core.ports import free_port

__all__ = ["free_port"]
