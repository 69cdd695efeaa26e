"""Switchboard's auth service: users, API tokens (ES256 JWTs), signing keys, revocations.

Public: `AuthService`, `AuthSettings`; `offline` holds the CLI's database helpers.
"""

from switchboard_auth.service import AuthService
from switchboard_auth.settings import AuthSettings

__all__ = ["AuthService", "AuthSettings"]
