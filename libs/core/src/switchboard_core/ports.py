"""A free TCP port on loopback, for servers a test or a local stack starts.

Picked below the kernel's ephemeral range (`ip_local_port_range`, where outgoing
connections get their local ports), so a port chosen now and bound a few seconds later
is not taken in between by some client's connection; only another listener could take
it. Where the range cannot be read or nothing below it is free, the kernel picks.

A port is handed out once per process: a caller picking several before binding any (a
local stack picks a dozen, then starts its processes) would otherwise be given the same
one twice now and then, and one of its servers would find its port taken. Processes
picking at once (parallel test workers, and the stacks each starts) are kept apart by
`SWITCHBOARD_FREE_PORTS=low-high`: each picks only in its own slice.
"""

from __future__ import annotations

import os
import random
import socket
import threading

_LOWEST = 10_000
RANGE_VARIABLE = "SWITCHBOARD_FREE_PORTS"
_ATTEMPTS = 64
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    lowest, highest = _range()
    with _lock:
        if highest > lowest:
            for _ in range(_ATTEMPTS):
                port = random.randint(lowest, highest)
                if port not in _handed_out and _bindable(port):
                    _handed_out.add(port)
                    return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


def _range() -> tuple[int, int]:
    """Where to pick: this process's slice if it was given one, else below the ephemeral range."""
    given = os.environ.get(RANGE_VARIABLE, "")
    low, _, high = given.partition("-")
    if low.isdigit() and high.isdigit() and int(low) < int(high):
        return int(low), int(high)
    return _LOWEST, _ephemeral_low() - 1


def slice_of(index: int, count: int) -> str:
    """The `SWITCHBOARD_FREE_PORTS` value for the `index`-th of `count` parallel pickers."""
    lowest, highest = _LOWEST, _ephemeral_low() - 1
    if highest <= lowest:
        return ""
    width = (highest - lowest + 1) // count
    return f"{lowest + index * width}-{lowest + (index + 1) * width - 1}"


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
