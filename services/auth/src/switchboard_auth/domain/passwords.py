"""Password hashing (argon2id) and generation.

Hashing and verifying cost tens of milliseconds of CPU and 64 MiB by design, so the
async helpers run them in a worker thread instead of on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(type=Type.ID)

MIN_PASSWORD_LENGTH = 8


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both failures take the same time."""
    return _hasher.hash(secrets.token_urlsafe(18))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def password_matches_off_loop(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        await asyncio.to_thread(lambda: password_matches(_dummy_hash(), password))
        return False
    return await asyncio.to_thread(password_matches, password_hash, password)


def generate_password() -> str:
    """A strong password that is still easy to copy: 24 URL-safe characters (~143 bits)."""
    return secrets.token_urlsafe(18)
