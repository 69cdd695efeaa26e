"""Settings of the auth service (`SWITCHBOARD_*` environment variables)."""

from __future__ import annotations

from pydantic import model_validator
from switchboard_core.settings import ServiceSettings

MIN_BOOTSTRAP_PASSWORD_LENGTH = 12


class AuthSettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/auth.db`.
    auth_database_url: str = ""
    bootstrap_admin_email: str = "admin@example.com"
    # Empty means: generate a strong one on first start and print it once to stderr.
    bootstrap_admin_password: str = ""
    token_issuer: str = "switchboard"
    token_audience: str = "switchboard"
    login_token_ttl_s: int = 8 * 3600
    default_token_ttl_days: int = 30
    # Wrong passwords in a row that lock an account, and for how long.
    login_max_failures: int = 5
    login_lockout_s: int = 900

    @property
    def database_url(self) -> str:
        return self.auth_database_url or self.sqlite_url("auth")

    @model_validator(mode="after")
    def _reject_unsafe_values(self) -> AuthSettings:
        if self.login_token_ttl_s <= 0 or self.default_token_ttl_days <= 0:
            raise ValueError("token lifetimes must be positive")
        if self.login_max_failures < 1 or self.login_lockout_s < 0:
            raise ValueError(
                "SWITCHBOARD_LOGIN_MAX_FAILURES must be at least 1, SWITCHBOARD_LOGIN_LOCKOUT_S not negative"
            )
        if (
            self.environment == "production"
            and self.bootstrap_admin_password
            and len(self.bootstrap_admin_password) < MIN_BOOTSTRAP_PASSWORD_LENGTH
        ):
            raise ValueError(
                f"SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD must have at least {MIN_BOOTSTRAP_PASSWORD_LENGTH} "
                "characters in production (or leave it empty to have one generated)"
            )
        return self
