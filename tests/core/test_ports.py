"""Free ports for servers about to start: below the ephemeral range, bindable when
picked, and never the same one twice in a process (a stack picks a dozen before it
binds any)."""

from __future__ import annotations

import socket

from switchboard_core.ports import free_port


def _ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        return int(ports.read().split()[0])


def test_ports_picked_before_any_is_bound_are_all_different_and_below_the_ephemeral_range() -> None:
    picked = [free_port() for _ in range(500)]  # at random among ~22k, repeats would be near certain
    assert len(set(picked)) == len(picked)
    assert max(picked) < _ephemeral_low()


def test_a_picked_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
