"""Free ports for servers about to start: below the ephemeral range, bindable when
picked, and never the same one twice in a process (a stack picks a dozen before it
binds any)."""

from __future__ import annotations

import os
import socket

from switchboard_core.ports import RANGE_VARIABLE, free_port, slice_of


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


def test_parallel_pickers_get_disjoint_slices_below_the_ephemeral_range() -> None:
    slices = [tuple(map(int, slice_of(i, 3).split("-"))) for i in range(3)]
    for (_, high), (low, _) in zip(slices, slices[1:], strict=False):
        assert high < low
    assert slices[-1][1] < _ephemeral_low()


def test_a_process_given_a_slice_picks_only_in_it(monkeypatch) -> None:
    monkeypatch.setenv(RANGE_VARIABLE, "20000-20199")
    picked = {free_port() for _ in range(50)}
    assert len(picked) == 50
    assert all(20000 <= port <= 20199 for port in picked)


def test_the_workers_of_this_run_were_given_their_slice() -> None:
    # Under xdist the plugin sets one per worker; a single process picks everywhere.
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if worker and count and int(count) > 1:
        assert os.environ[RANGE_VARIABLE] == slice_of(int(worker[2:]), int(count))
    else:
        assert RANGE_VARIABLE not in os.environ
