"""CPU time and resident memory of a process tree, read from /proc (Linux only).

The gateway may run under a wrapper (`uv run`) or spawn workers, so every figure covers
the process and all its live descendants, found by walking the ppid field of /proc/*/stat.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is parenthesised and may contain spaces; fields resume after ")".
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # fields[1] is ppid
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU time consumed so far by `root` and its live descendants."""
    total_ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            total_ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return total_ticks / _TICKS_PER_SECOND


def rss_bytes(root: int) -> int:
    """Resident memory (VmRSS) of `root` and its live descendants."""
    total_kib = 0
    for pid in process_tree(root):
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib * 1024
