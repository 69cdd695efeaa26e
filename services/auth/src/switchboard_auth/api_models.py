"""JSON bodies of the auth service's HTTP API (they document it in OpenAPI). Request bodies
are `Body`: read strictly (`0` is no boolean)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from switchboard_core.http.contract import Body

from switchboard_auth.domain.accounts import MAX_TOKEN_NAME_LENGTH, MAX_TOKEN_TTL_DAYS
from switchboard_auth.domain.passwords import MIN_PASSWORD_LENGTH
from switchboard_auth.domain.roles import MAX_DESCRIPTION_LENGTH
from switchboard_auth.domain.teams import MAX_TEAM_NAME_LENGTH
from switchboard_auth.domain.token_limits import MAX_ENTRIES
from switchboard_auth.domain.users import MAX_EMAIL_LENGTH

# A permission, a virtual server id or a network (CIDR): each far shorter (docs/limits.md).
Entry = Annotated[str, Field(max_length=64)]


class LoginRequest(Body):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, examples=["admin@example.com"])
    password: str = Field(max_length=1024)


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class CreateTokenRequest(Body):
    name: str = Field(min_length=1, max_length=MAX_TOKEN_NAME_LENGTH, examples=["ci-pipeline"])
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_TTL_DAYS, description="Defaults to the server's default lifetime."
    )
    email: str | None = Field(
        default=None,
        max_length=MAX_EMAIL_LENGTH,
        description="Mint the token for this user instead of the caller (administrators only).",
    )
    scopes: list[Entry] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        examples=[["servers.use", "tools.read", "tools.execute"]],
        description="Permissions the token is limited to (GET /auth/permissions); default: no limit. "
        "Connecting to an MCP endpoint needs `servers.use`.",
    )
    servers: list[Entry] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        description="Virtual server ids the token may connect to; default: any.",
    )
    cidrs: list[Entry] | None = Field(
        default=None,
        max_length=MAX_ENTRIES,
        examples=[["10.0.0.0/8", "2001:db8::/32"]],
        description="Client networks the token may be used from; default: anywhere.",
    )


class CreatedToken(BaseModel):
    id: str = Field(description="The token's id (its `jti`); revoke it with DELETE /auth/tokens/{id}.")
    access_token: str = Field(description="Shown only in this response.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    scopes: list[str] = []
    servers: list[str] = []
    cidrs: list[str] = []


class TokenInfo(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked: bool
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    scopes: list[str] = Field(description="Permissions the token is limited to (empty: no limit).")
    servers: list[str] = Field(description="Virtual servers it may connect to (empty: any).")
    cidrs: list[str] = Field(description="Client networks it may be used from (empty: anywhere).")


class MembershipInfo(BaseModel):
    team_id: str
    role: str
    permissions: list[str]


class PrincipalInfo(BaseModel):
    user_id: str
    email: str
    is_admin: bool
    teams: list[str]
    memberships: list[MembershipInfo]
    scopes: list[str] = Field(description="What the token is limited to (empty: no limit).")
    servers: list[str]
    cidrs: list[str]
    token_id: str
    expires_at: int = Field(description="Unix seconds.")


class CreateUserRequest(Body):
    email: str = Field(max_length=MAX_EMAIL_LENGTH)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    is_admin: bool = False


class UserInfo(BaseModel):
    id: str
    email: str
    is_admin: bool
    created_at: datetime


class JsonWebKeySet(BaseModel):
    keys: list[dict] = Field(
        description="Public ES256 or RS256 keys (RFC 7517), retired ones left out; tokens name theirs in "
        "the `kid` header. Empty with HS256, whose secrets are never published."
    )


class ChangePasswordRequest(Body):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class UpdateUserRequest(Body):
    is_admin: bool | None = Field(
        default=None, description="Promote to, or demote from, platform administrator."
    )
    password: str | None = Field(
        default=None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=1024,
        description="Set a new password; the user's logins end (API tokens stay).",
    )
    unlock: bool = Field(default=False, description="Lift a lockout after failed logins.")


class UserDetail(UserInfo):
    locked_until: datetime | None
    password_changed_at: datetime | None


class CreateTeamRequest(Body):
    name: str = Field(min_length=1, max_length=MAX_TEAM_NAME_LENGTH, examples=["platform"])


class TeamInfo(BaseModel):
    id: str
    name: str
    personal: bool
    created_at: datetime


class PutMemberRequest(Body):
    email: str = Field(max_length=MAX_EMAIL_LENGTH)
    role: str = Field(max_length=64, examples=["developer"], description="A team role: GET /auth/roles.")


class ChangeMemberRequest(Body):
    role: str = Field(max_length=64)


class MemberInfo(BaseModel):
    user_id: str
    email: str
    role: str
    added_at: datetime


class RoleRequest(Body):
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)
    permissions: list[Entry] = Field(min_length=1, max_length=100, examples=[["tools.read", "tools.execute"]])


class CreateRoleRequest(RoleRequest):
    name: str = Field(min_length=2, max_length=64, examples=["tool-runner"])


class RoleInfo(BaseModel):
    name: str
    description: str
    permissions: list[str]
    builtin: bool


class PermissionInfo(BaseModel):
    name: str
    description: str
    platform_only: bool


class RotateKeyRequest(Body):
    publish_delay_s: int | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        description="How long the new key is published before it signs (default SWITCHBOARD_JWT_PUBLISH_DELAY_S).",
    )


class SigningKeyInfo(BaseModel):
    kid: str
    alg: str
    state: Literal["pending", "signing", "verifying", "retired"] = Field(
        description="pending: published, not signing yet; signing; verifying: superseded, verifies what it "
        "signed; retired: out of the JWKS, verifies nothing."
    )
    created_at: datetime | None
    signs_from: datetime | None
    retired_at: datetime | None
    public_jwk: dict | None = Field(description="The public key as published (none for HS256).")


class AuditActor(BaseModel):
    user_id: str = Field(description="Empty for the operator's offline CLI.")
    email: str
    token_id: str = Field(description="The token the change was made with.")


class AuditEntry(BaseModel):
    id: str
    at: datetime
    service: str = Field(description="The service that made the change: auth, registry.")
    actor: AuditActor
    action: str = Field(examples=["gateway.create"], description="`<entity type>.<verb>`.")
    entity_type: str
    entity_id: str
    changes: dict = Field(description="The changed fields; secrets appear only as `<redacted>`.")
    client_ip: str = Field(description="As seen through SWITCHBOARD_TRUSTED_PROXIES; empty if unknown.")
    user_agent: str
    outcome: str
