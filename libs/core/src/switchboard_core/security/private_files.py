"""Owner-only files: everything the gateway writes under its data directory is mode
0600 and every directory it makes 0700, whatever umask it was started with.

The command line sets the process umask to 077 before anything runs (`owner_only`)
rather than giving each file a mode: SQLite creates its own files (the database, and
the -wal, -shm and -journal files beside it, at moments of its choosing), as do log
handlers and any later writer, and a umask covers them all. SQLite also gives a
database's -wal/-shm/-journal the mode of the database itself, so a database made
before this (0644) is tightened at start (`tighten_data_dir`), and its companions with
it. A data directory that exists already is left as it is (it may be one others use
too) and named in a warning when others can enter it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

OWNER_ONLY_UMASK = 0o077
# What the gateway keeps in its data directory: SQLite databases (with their companion
# files) and the embedded sealing key.
_OURS = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal", "secret.keys")


def owner_only() -> None:
    """From now on this process (and what it starts) creates files 0600, directories 0700."""
    os.umask(OWNER_ONLY_UMASK)


def tighten_data_dir(data_dir: Path) -> None:
    """Make the gateway's own files in an existing data directory that a former version
    left readable to others owner-only (a missing one is made 0700 by whoever needs it)."""
    if not data_dir.is_dir():
        return
    if stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        logger.warning("the data directory %s is open to other users: chmod 700 it", data_dir)
    for pattern in _OURS:
        for path in data_dir.glob(pattern):
            try:
                found = path.lstat()
                mode = stat.S_IMODE(found.st_mode)
                if stat.S_ISREG(found.st_mode) and mode & 0o077:
                    path.chmod(mode & 0o700)
                    logger.warning("%s was open to other users (%o): now %o", path, mode, mode & 0o700)
            except FileNotFoundError:
                continue  # SQLite removed a -wal or -journal meanwhile
            except PermissionError:
                logger.warning("%s is open to other users and not this user's to change", path)
