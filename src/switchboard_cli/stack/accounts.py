"""Which account the daemons (Postgres, PgBouncer, Redis, nginx) run as.

Postgres and PgBouncer refuse to run as root, and nothing here needs root: when the
command runs as root, the daemons run as an unprivileged account (`postgres` where the
Debian package created it, else `nobody`) that owns their directories. Otherwise they
run as the caller.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from switchboard_cli.stack.errors import StackDirError

CANDIDATES = ("postgres", "nobody")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict:
        """What `subprocess.Popen` needs to drop to this account in the child."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def daemon_account() -> Account | None:
    """The account to run daemons as, or None to run them as the caller."""
    if os.geteuid() != 0:
        return None
    for name in CANDIDATES:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise StackDirError(
        f"running as root, and none of the accounts {', '.join(CANDIDATES)} exists to run daemons as"
    )


def hand_over(path: Path, account: Account | None) -> None:
    """Give `path` (and everything under it) to `account`, and check it can write there."""
    if account is None:
        return
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, n) for n in dirs + files)):
            os.chown(name, account.uid, account.gid, follow_symlinks=False)
    probe = subprocess.run(["test", "-w", str(path)], **account.popen_kwargs(), check=False)
    if probe.returncode != 0:
        raise StackDirError(
            f"the daemons run as {account.name!r} (Postgres refuses root), which cannot reach {path}: "
            f"choose a --dir every user may traverse (e.g. under /tmp or /srv), or make its parents "
            f"traversable (chmod o+x)"
        )
