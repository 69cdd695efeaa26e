"""Where and as whom the tests' database servers run.

Postgres and PgBouncer refuse to run as root, and the tests may run as root (CI does).
Then the servers run as an unprivileged account (`SWITCHBOARD_TEST_SERVER_USER`, else
`postgres` where the Debian package made it, else `nobody`) in a temporary directory
that account owns, under /tmp so that it can reach it (pytest's own temporary
directories are private to the user running the tests).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard_testing.errors import HarnessError, MissingBinary

_CANDIDATES = ("postgres", "nobody")


@dataclass(frozen=True)
class ServerUser:
    """The account servers run as; `None` fields mean "the current user"."""

    name: str | None = None
    uid: int | None = None
    gid: int | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        """Arguments for `subprocess.Popen`/`run` that start a child as this account."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def make_directory(self, prefix: str) -> Path:
        """A fresh temporary directory this account owns (the caller removes it)."""
        if self.uid is None:
            return Path(tempfile.mkdtemp(prefix=prefix))
        path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chown(path, self.uid, self.gid if self.gid is not None else -1)
        return path


def server_user() -> ServerUser:
    if os.geteuid() != 0:
        return ServerUser()
    wanted = os.environ.get("SWITCHBOARD_TEST_SERVER_USER", "")
    for name in (wanted,) if wanted else _CANDIDATES:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return ServerUser(name, entry.pw_uid, entry.pw_gid)
    raise HarnessError(
        "the tests run as root and no unprivileged account to run database servers as was found "
        f"(tried {wanted or ', '.join(_CANDIDATES)}); set SWITCHBOARD_TEST_SERVER_USER"
    )


def find_binary(name: str, *, search: list[Path], package: str) -> Path:
    """`name` on PATH or in one of `search`; `MissingBinary` saying which package has it."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in search:
        if (directory / name).is_file():
            return directory / name
    raise MissingBinary(
        f"`{name}` is not installed (looked on PATH and in {', '.join(map(str, search))}); "
        f"install it with `apt-get install {package}`"
    )


def run_as(user: ServerUser, command: list[str], *, cwd: Path, what: str) -> None:
    """Run a setup command (initdb) as the server account; `HarnessError` with its output on failure."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, **user.popen_kwargs())
    if result.returncode != 0:
        raise HarnessError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}")
