"""Settings shared by every service; each service extends `ServiceSettings`.

Every field reads from an environment variable `SWITCHBOARD_<FIELD>` (upper case).
The entrypoint builds settings once and passes them down; nothing reads the
environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from switchboard_core import internal_token as internal_tokens
from switchboard_core.audit import MAX_RECORD_BYTES
from switchboard_core.security.outbound import LOOPBACK, OutboundPolicy
from switchboard_core.security.sealing import SecretKeys, embedded_keys

DEFAULT_HTTP_PORT = 4444
DEFAULT_GRPC_PORT = 4445
# An embedded gateway's internal token: its gRPC peers are all in this process.
_PROCESS_TOKEN = internal_tokens.new_token()


class MissingInternalToken(ValueError):
    """A service whose peers run elsewhere was given no internal token."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(
        default=Path(".switchboard"), description="Where SQLite files live in embedded mode."
    )
    http_host: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    grpc_host: str = "127.0.0.1"
    grpc_port: int = DEFAULT_GRPC_PORT
    log_level: str = "info"
    # Log lines as JSON (one event per line) or text (for a person); `auto`: text when
    # stderr is a terminal, JSON otherwise (docs/observability.md#logs).
    log_format: Literal["auto", "json", "text"] = "auto"
    # The name of this replica in every log line; empty: the host name (`HOSTNAME`, a pod's name).
    replica: str = ""
    # One log line per HTTP request (method, route, status, duration, bytes, request id,
    # client address; never the query string). Off: not in the request's path at all.
    access_log: bool = False
    # Deadline for one internal gRPC call.
    grpc_timeout_s: float = 5.0
    # Grace period for in-flight requests on SIGTERM / Ctrl-C.
    shutdown_grace_s: float = 10.0
    # Largest body a REST (admin API) request may carry, in bytes: 413 past it, refused
    # as it streams in. The MCP endpoints have their own, `max_message_bytes` (docs/limits.md).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # An HTTP connection is closed when it has not sent a whole request header this long
    # after it opened or after its previous response ended (so an idle keep-alive one
    # too); a response still streaming (SSE, a long call) is never cut by it.
    http_header_timeout_s: float = Field(default=30.0, gt=0)
    # A REST request's body must arrive whole this long after it is first read (408 past
    # it): the header timeout ends with the header, and REST routes read a body before
    # any token is looked at (the MCP endpoints look at the token first).
    http_body_timeout_s: float = Field(default=30.0, gt=0)
    # gRPC connections: closed when the HTTP/2 handshake is not done within the first;
    # told to go away after the second without a call, and after the third of age (so
    # clients balancing over DNS reach replicas added since; calls and streams in flight
    # on a connection told to go finish there).
    grpc_handshake_timeout_s: float = Field(default=30.0, gt=0)
    grpc_max_connection_idle_s: float = Field(default=300.0, gt=0)
    grpc_max_connection_age_s: float = Field(default=600.0, gt=0)

    # The service's own database: migrated at start unless an operator runs
    # `switchboard migrate`; reaching it is retried with backoff (base = the interval).
    migrate_on_start: bool = True
    db_max_retries: int = Field(default=30, ge=1)
    db_retry_interval_ms: int = Field(default=2000, ge=0)

    # Readiness (`/readyz`, gRPC health): the service's database and Redis are checked in
    # the background this often, each check given this long to answer.
    readiness_interval_s: float = Field(default=2.0, gt=0)
    readiness_timeout_s: float = Field(default=1.0, gt=0)

    # Redis for the shared caches, the event bus and leader elections; empty means
    # embedded (in-process). Reaching it at start is retried like the database.
    redis_url: str = ""
    redis_max_retries: int = Field(default=30, ge=1)
    redis_retry_interval_ms: int = Field(default=2000, ge=0)
    # A leader's lease on a periodic job (registry health checks, metrics retention):
    # renewed every third of it; a replica that dies holding it is replaced within it.
    leader_ttl_s: float = Field(default=15.0, gt=0)

    # Request rate limits per API token and per user (all their tokens), as `600/60s`
    # (also `10/s`, `100/1m`, `5000/h`); empty means none. Counted on the MCP endpoints
    # and the admin APIs alike; replicas share the count through Redis, synchronised
    # every `rate_limit_sync_ms` (docs/rate-limits.md).
    rate_limit_per_token: str = ""
    rate_limit_per_user: str = ""
    rate_limit_sync_ms: int = Field(default=100, ge=10)

    # Addresses or networks (CIDR) of the reverse proxies in front (nginx): only from
    # these is X-Forwarded-For believed (the client address scoped tokens' networks are
    # checked against and the audit log records), and X-Forwarded-Proto/Host.
    trusted_proxies: list[str] = []

    # The bound of an audit record's `changes` as JSON, in bytes: a record past it is kept
    # cut down, marked `truncated` with its `size` (docs/audit.md).
    audit_record_max_bytes: int = Field(default=MAX_RECORD_BYTES, ge=1024)

    # Where the other services' gRPC faces are; empty means "this process" (embedded).
    auth_addr: str = ""
    registry_addr: str = ""
    metrics_addr: str = ""

    # The SSRF guard's allow-list: CIDRs, addresses, host names and `*.domain` patterns
    # the gateway may reach for users although they are loopback, private, link-local…
    # Unset: loopback in development (the quickstart's upstream), nothing in production;
    # set (even empty), exactly what it lists.
    outbound_allow: Annotated[list[str] | None, NoDecode] = None

    # Keys sealing upstream credentials at rest, `kid:base64key,…` (32-byte keys): the
    # first seals, all unseal (docs/upstream-credentials.md). Unset when embedded: a key
    # of the gateway's own in `<data_dir>/secret.keys`; unset otherwise: no credentials.
    secret_keys: SecretStr = SecretStr("")

    # What the services of one deployment authenticate each other's gRPC calls with
    # (at least 32 characters, the same on every service; docs/internal-grpc.md); a
    # comma list while replacing it: the first is sent, any is accepted. Unset when
    # embedded: one made at start; unset otherwise: the service won't start.
    internal_token: SecretStr = SecretStr("")

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("rate_limit_per_token", "rate_limit_per_user")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        from switchboard_core.rate_limits import Rate  # it imports the Redis helpers, which import these

        Rate.parse(value)
        return value

    @field_validator("secret_keys")
    @classmethod
    def _valid_keys(cls, value: SecretStr) -> SecretStr:
        SecretKeys.parse(value.get_secret_value())
        return value

    @field_validator("internal_token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if text and not internal_tokens.sent(text):
            raise ValueError("SWITCHBOARD_INTERNAL_TOKEN lists no token first")
        if any(len(token) < internal_tokens.MIN_LENGTH for token in internal_tokens.accepted(text)):
            raise ValueError(
                f"each SWITCHBOARD_INTERNAL_TOKEN needs at least {internal_tokens.MIN_LENGTH} characters"
            )
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _valid_entries(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            OutboundPolicy.parse(value)
        return value

    def outbound_policy(self) -> OutboundPolicy:
        """What the gateway may connect to on users' behalf besides public addresses."""
        if self.outbound_allow is not None:
            return OutboundPolicy.parse(self.outbound_allow)
        return OutboundPolicy.parse(LOOPBACK if self.environment == "development" else ())

    def sealing_keys(self) -> SecretKeys:
        """The keys upstream credentials are sealed with (made on first use when embedded)."""
        keys = SecretKeys.parse(self.secret_keys.get_secret_value())
        if keys.keys or self.redis_url:
            return keys
        return embedded_keys(self.data_dir)

    @property
    def embedded(self) -> bool:
        """No peer in another process: every service this one calls is hosted here."""
        return not (self.redis_url or self.auth_addr or self.registry_addr or self.metrics_addr)

    def internal_credential(self) -> str:
        """The internal gRPC token: the configured one, or (embedded) one made for this process."""
        token = self.internal_token.get_secret_value()
        if token:
            return token
        if self.embedded:
            return _PROCESS_TOKEN
        apart = [
            f"SWITCHBOARD_{name.upper()}"
            for name in ("redis_url", "auth_addr", "registry_addr", "metrics_addr")
            if getattr(self, name)
        ]
        raise MissingInternalToken(
            f"SWITCHBOARD_INTERNAL_TOKEN is not set, and with {', '.join(apart)} set this "
            "service's peers run in other processes: they authenticate each other's gRPC calls "
            "with it. Set the same value (32+ characters, e.g. from `openssl rand -base64 32`) "
            "on every service of the deployment (docs/internal-grpc.md)."
        )

    @property
    def grpc_local_addr(self) -> str:
        host = "127.0.0.1" if self.grpc_host in ("0.0.0.0", "::", "") else self.grpc_host
        return f"{host}:{self.grpc_port}"

    def addr_of(self, service: Literal["auth", "registry", "metrics"]) -> str:
        """gRPC address of another service, defaulting to this process's own gRPC port."""
        return getattr(self, f"{service}_addr") or self.grpc_local_addr

    def sqlite_url(self, name: str) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{name}.db').resolve()}"
