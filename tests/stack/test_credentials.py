"""The stack's credentials file: made once, kept, and completed when an older stack's
file lacks the internal gRPC token or the sealing keys."""

from __future__ import annotations

import json
import stat
from dataclasses import asdict
from pathlib import Path

from switchboard_core.security.sealing import SecretKeys

from switchboard_cli.stack import credentials


def test_first_start_makes_every_secret_and_a_later_one_finds_the_same(tmp_path: Path) -> None:
    made = credentials.load_or_create(tmp_path)
    assert len(made.internal_token) >= 32
    assert len({made.postgres_superuser_password, made.database_password, made.admin_password}) == 3
    assert credentials.load_or_create(tmp_path) == made
    assert stat.S_IMODE((tmp_path / credentials.FILE_NAME).stat().st_mode) == 0o600


def test_an_older_stacks_file_gains_an_internal_token_and_keeps_its_passwords(tmp_path: Path) -> None:
    older = asdict(credentials.load_or_create(tmp_path))
    del older["internal_token"]
    path = tmp_path / credentials.FILE_NAME
    path.write_text(json.dumps(older))
    completed = credentials.load_or_create(tmp_path)
    assert len(completed.internal_token) >= 32
    assert {k: v for k, v in asdict(completed).items() if k != "internal_token"} == older
    assert json.loads(path.read_text())["internal_token"] == completed.internal_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.load_or_create(tmp_path) == completed


def test_an_older_stacks_file_gains_sealing_keys_that_later_starts_keep(tmp_path: Path) -> None:
    older = asdict(credentials.load_or_create(tmp_path))
    del older["secret_keys"]
    path = tmp_path / credentials.FILE_NAME
    path.write_text(json.dumps(older))
    completed = credentials.load_or_create(tmp_path)
    assert SecretKeys.parse(completed.secret_keys).sealing_kid
    assert {k: v for k, v in asdict(completed).items() if k != "secret_keys"} == older
    assert credentials.load_or_create(tmp_path) == completed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
