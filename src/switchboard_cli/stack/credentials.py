"""The stack's passwords: generated on first start, kept in `<dir>/credentials.json`
(mode 0600) so that a later start finds the same Postgres cluster and admin."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "credentials.json"
ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class Credentials:
    postgres_superuser_password: str
    database_user: str
    database_password: str
    admin_email: str
    admin_password: str


def load_or_create(stack_dir: Path) -> Credentials:
    path = stack_dir / FILE_NAME
    if path.exists():
        return Credentials(**json.loads(path.read_text()))
    made = Credentials(
        postgres_superuser_password=_password(),
        database_user="switchboard",
        database_password=_password(),
        admin_email=ADMIN_EMAIL,
        admin_password=_password(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(made), out, indent=2)
    return made


def _password() -> str:
    # URL-safe: the database password goes into connection URLs unquoted.
    return secrets.token_urlsafe(18)
