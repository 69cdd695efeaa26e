"""Users: what a valid email and password are, and how a new user is made."""

from __future__ import annotations

import uuid
from datetime import datetime

from switchboard_core.errors import InvalidInput

from switchboard_auth.domain.passwords import MIN_PASSWORD_LENGTH, hash_password_off_loop
from switchboard_auth.store.users import UserRow

MAX_EMAIL_LENGTH = 320


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively; stored lower-cased and trimmed."""
    normalized = email.strip().lower()
    local, at, domain = normalized.partition("@")
    if not at or not local or not domain or "@" in domain or len(normalized) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"{email!r} is not an email address")
    return normalized


async def new_user(email: str, password: str, *, is_admin: bool, now: datetime) -> UserRow:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return UserRow(
        id=str(uuid.uuid4()),
        email=normalize_email(email),
        password_hash=await hash_password_off_loop(password),
        is_admin=is_admin,
        created_at=now,
    )
