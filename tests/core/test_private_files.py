"""Owner-only files under the data directory: what a former version left open is
tightened at start, only the gateway's own files, and a directory that does not exist
is not made by the check."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from switchboard_core.security.private_files import tighten_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_gateways_own_files_left_readable_become_owner_only_and_others_are_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = ["auth.db", "auth.db-wal", "auth.db-shm", "registry.db-journal", "secret.keys"]
    for name in [*ours, "notes.txt"]:
        (tmp_path / name).write_text("x")
        (tmp_path / name).chmod(0o644)
    tmp_path.chmod(0o755)

    with caplog.at_level(logging.WARNING):
        tighten_data_dir(tmp_path)

    assert {name: oct(mode(tmp_path / name)) for name in ours} == dict.fromkeys(ours, "0o600")
    assert mode(tmp_path / "notes.txt") == 0o644
    # Perhaps a directory others use as well: named, not changed.
    assert mode(tmp_path) == 0o755
    assert "open to other users" in caplog.text


def test_a_missing_data_directory_is_not_made_by_the_check(tmp_path: Path) -> None:
    tighten_data_dir(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
