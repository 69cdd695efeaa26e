"""Finding the programs the stack runs, and naming the package of a missing one.

Programs are looked up on `PATH`, then in the directories Debian installs them in but
that a normal user's `PATH` lacks (`/usr/sbin`, `/usr/lib/postgresql/<version>/bin`,
newest version first). `SWITCHBOARD_STACK_BIN_DIRS` replaces that second list (a
`:`-separated list; globs allowed; empty: `PATH` alone).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Iterable

from switchboard_cli.stack.errors import MissingBinaries

APT_INSTALL = "apt-get install postgresql pgbouncer redis-server nginx"
PACKAGE_OF = {
    "initdb": "postgresql",
    "postgres": "postgresql",
    "pgbouncer": "pgbouncer",
    "redis-server": "redis-server",
    "nginx": "nginx",
}
EXTRA_DIRS_VARIABLE = "SWITCHBOARD_STACK_BIN_DIRS"
DEFAULT_EXTRA_DIRS = "/usr/sbin:/sbin:/usr/lib/postgresql/*/bin"


def search_path() -> list[str]:
    extra = os.environ.get(EXTRA_DIRS_VARIABLE, DEFAULT_EXTRA_DIRS)
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    for pattern in (p for p in extra.split(os.pathsep) if p):
        dirs += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    return dirs


def find(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join(search_path()))


def require(names: Iterable[str]) -> dict[str, str]:
    """The path of each program; `MissingBinaries` naming every one that is missing."""
    found = {name: find(name) for name in names}
    missing = {name: PACKAGE_OF.get(name, name) for name, path in found.items() if path is None}
    if missing:
        raise MissingBinaries(missing, APT_INSTALL)
    return found  # type: ignore[return-value]


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))
