"""Settings of the auth service (`SWITCHBOARD_*` environment variables)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode
from switchboard_core.settings import ServiceSettings

MIN_BOOTSTRAP_PASSWORD_LENGTH = 12
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash


class AuthSettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/auth.db`.
    auth_database_url: str = ""
    bootstrap_admin_email: str = "admin@example.com"
    # Empty means: generate a strong one on first start and print it once to stderr.
    bootstrap_admin_password: str = ""
    # The gateway's public base URL (as the proxy's SWITCHBOARD_PUBLIC_URL): when set, the
    # default issuer and audience of tokens, and where the authorization-server metadata
    # says the JWKS is.
    public_url: str = ""
    # The reverse proxies in front (as the proxy's SWITCHBOARD_TRUSTED_PROXIES): only from
    # these are X-Forwarded-Proto/Host/Port believed, for the metadata's URLs.
    trusted_proxies: list[str] = []
    # `iss` and `aud` of issued tokens, checked on every verification. Empty: the public
    # base URL when there is one (the MCP resource the tokens are for), else "switchboard".
    token_issuer: str = ""
    token_audience: str = ""
    # ES256 and RS256 keys are generated, stored and published; HS256 signs with
    # SWITCHBOARD_JWT_SECRET and publishes nothing. Only this algorithm is accepted.
    jwt_algorithm: Literal["ES256", "RS256", "HS256"] = "ES256"
    jwt_secret: SecretStr = SecretStr("")
    # HS256 secrets that still verify (not sign): the previous ones, while their tokens live.
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = []
    # How long a rotated-in key is published before it signs (relying parties cache the
    # JWKS this long: its Cache-Control max-age).
    jwt_publish_delay_s: int = 300
    # How often each replica reads the keys again (and retires those whose tokens are over).
    jwt_key_refresh_s: float = 30.0
    login_token_ttl_s: int = 8 * 3600
    default_token_ttl_days: int = 30
    # Wrong passwords in a row that lock an account, and for how long.
    login_max_failures: int = 5
    login_lockout_s: int = 900

    @property
    def database_url(self) -> str:
        return self.auth_database_url or self.sqlite_url("auth")

    @property
    def public_base(self) -> str:
        """`scheme://host[:port]` of SWITCHBOARD_PUBLIC_URL (as the proxy reads it), or ""."""
        parts = urlsplit(self.public_url.strip())
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    def jwt_secrets(self) -> tuple[bytes, ...]:
        """For HS256: the signing secret, then those that only verify."""
        return tuple(s.get_secret_value().encode() for s in (self.jwt_secret, *self.jwt_previous_secrets))

    @field_validator("jwt_previous_secrets", mode="before")
    @classmethod
    def _comma_separated_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @model_validator(mode="after")
    def _default_issuer_and_audience(self) -> AuthSettings:
        self.token_issuer = self.token_issuer or self.public_base or "switchboard"
        self.token_audience = self.token_audience or self.public_base or "switchboard"
        return self

    @model_validator(mode="after")
    def _reject_unsafe_values(self) -> AuthSettings:
        if self.jwt_algorithm == "HS256" and any(len(s) < MIN_JWT_SECRET_BYTES for s in self.jwt_secrets()):
            raise ValueError(
                f"SWITCHBOARD_JWT_ALGORITHM=HS256 needs SWITCHBOARD_JWT_SECRET (and any previous "
                f"secrets) of at least {MIN_JWT_SECRET_BYTES} bytes"
            )
        if self.jwt_publish_delay_s < 0 or self.jwt_key_refresh_s <= 0:
            raise ValueError(
                "SWITCHBOARD_JWT_PUBLISH_DELAY_S must not be negative, SWITCHBOARD_JWT_KEY_REFRESH_S positive"
            )
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
