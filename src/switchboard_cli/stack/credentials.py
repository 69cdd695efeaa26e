"""The stack's passwords, the services' internal gRPC token and the keys sealing secrets
at rest: generated on first start, kept in `<dir>/credentials.json` (mode 0600) so that
a later start finds the same Postgres cluster, admin and readable signing keys."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from switchboard_core.internal_token import new_token

FILE_NAME = "credentials.json"
ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class Credentials:
    postgres_superuser_password: str
    database_user: str
    database_password: str
    admin_email: str
    admin_password: str
    # Absent from the files of stacks made before internal gRPC calls were authenticated.
    internal_token: str = ""
    # SWITCHBOARD_SECRET_KEYS; absent from the files of stacks made before signing keys were sealed.
    secret_keys: str = ""


def load_or_create(stack_dir: Path) -> Credentials:
    path = stack_dir / FILE_NAME
    if path.exists():
        kept = Credentials(**json.loads(path.read_text()))
        if kept.internal_token and kept.secret_keys:
            return kept
        made = replace(
            kept,
            internal_token=kept.internal_token or new_token(),
            secret_keys=kept.secret_keys or new_key_entry(),
        )
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _write(partial, made).replace(path)
        return made
    made = Credentials(
        postgres_superuser_password=_password(),
        database_user="switchboard",
        database_password=_password(),
        admin_email=ADMIN_EMAIL,
        admin_password=_password(),
        internal_token=new_token(),
        secret_keys=new_key_entry(),
    )
    _write(path, made)
    return made


def _write(path: Path, credentials: Credentials) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(credentials), out, indent=2)
    return path


def new_key_entry() -> str:
    """A `kid:base64key` entry as `switchboard secrets new-key` prints (32 random bytes).
    Made here: the sealing module imports the error tree, which loads gRPC, and the
    supervisor must never load it (it forks)."""
    return f"k{secrets.token_hex(4)}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def _password() -> str:
    # URL-safe: the database password goes into connection URLs unquoted.
    return secrets.token_urlsafe(18)
