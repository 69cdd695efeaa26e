"""HTTP face of the auth service (tag "auth"). Translation only: JSON to domain calls
and back. Authenticated routes resolve the caller through `app.state.principals`,
which asks this same service over gRPC."""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# `AccountsDep` annotation as an object, not as a string it cannot resolve.

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from switchboard_core.http.deps import AdminPrincipal, CurrentPrincipal, note_origin
from switchboard_core.http.params import Limit, Offset
from switchboard_core.http.refusals import audits

from switchboard_auth.api_models import (
    CreatedToken,
    CreateTokenRequest,
    CreateUserRequest,
    JsonWebKeySet,
    LoginRequest,
    LoginResponse,
    MembershipInfo,
    PrincipalInfo,
    TokenInfo,
    UserInfo,
)
from switchboard_auth.domain.accounts import Accounts
from switchboard_auth.store.users import UserRow

_ERRORS = {401: {"description": "Missing, invalid, expired or revoked token"}}


def build_router(accounts: Callable[[], Accounts], route_class: type[APIRoute]) -> APIRouter:
    """`route_class` records the refused attempts (`switchboard_core.http.refusals`)."""
    # JSONResponse: FastAPI serializes the pydantic return types itself (ORJSONResponse is deprecated).
    router = APIRouter(
        prefix="/auth", tags=["auth"], default_response_class=JSONResponse, route_class=route_class
    )

    def current_accounts() -> Accounts:
        return accounts()

    AccountsDep = Annotated[Accounts, Depends(current_accounts)]

    @router.post(
        "/login",
        responses={401: {"description": "Wrong email or password"}},
        dependencies=[Depends(note_origin)],
        openapi_extra=audits("user.login"),  # refusals only, recorded by `Accounts.login`
    )
    async def login(body: LoginRequest, domain: AccountsDep) -> LoginResponse:
        """Exchange email and password for a short-lived bearer token."""
        issued = await domain.login(body.email, body.password)
        return LoginResponse(access_token=issued.access_token, expires_at=issued.expires_at)

    @router.post(
        "/tokens",
        status_code=201,
        responses={**_ERRORS, 403: {"description": "Not an administrator"}},
        openapi_extra=audits("token.create"),
    )
    async def create_token(
        body: CreateTokenRequest, caller: CurrentPrincipal, domain: AccountsDep
    ) -> CreatedToken:
        """Mint a named API token, optionally limited to scopes, servers and client networks
        (a limited caller may only narrow its own limits); the token itself is shown only
        in this response."""
        issued = await domain.mint(
            caller,
            name=body.name,
            ttl_days=body.expires_in_days,
            email=body.email,
            scopes=body.scopes,
            servers=body.servers,
            cidrs=body.cidrs,
        )
        return CreatedToken(
            id=issued.id,
            access_token=issued.access_token,
            expires_at=issued.expires_at,
            scopes=list(issued.limits.scopes),
            servers=list(issued.limits.servers),
            cidrs=list(issued.limits.cidrs),
        )

    @router.get("/tokens", responses=_ERRORS)
    async def list_tokens(
        caller: CurrentPrincipal, domain: AccountsDep, limit: Limit = 100, offset: Offset = 0
    ) -> list[TokenInfo]:
        """The caller's tokens, newest first (never the tokens themselves)."""
        rows = await domain.tokens_of(caller, limit=limit, offset=offset)
        return [
            TokenInfo(
                id=row.jti,
                name=row.name,
                created_at=row.created_at,
                expires_at=row.expires_at,
                revoked=row.revoked_at is not None,
                last_used_at=row.last_used_at,
                scopes=list(row.limits.scopes),
                servers=list(row.limits.servers),
                cidrs=list(row.limits.cidrs),
            )
            for row in rows
        ]

    @router.delete(
        "/tokens/{token_id}",
        status_code=204,
        response_class=Response,
        responses={**_ERRORS, 404: {"description": "No such token of the caller's"}},
        openapi_extra=audits("token.revoke"),
    )
    async def revoke_token(token_id: str, caller: CurrentPrincipal, domain: AccountsDep) -> Response:
        """Revoke one of the caller's tokens (any token, for an administrator)."""
        await domain.revoke(caller, token_id)
        return Response(status_code=204)

    @router.get("/me", responses=_ERRORS)
    async def me(caller: CurrentPrincipal) -> PrincipalInfo:
        """Who the bearer token says the caller is."""
        return PrincipalInfo(
            user_id=caller.user_id,
            email=caller.email,
            is_admin=caller.is_admin,
            teams=list(caller.teams),
            memberships=[
                MembershipInfo(team_id=m.team_id, role=m.role, permissions=sorted(m.permissions))
                for m in caller.memberships
            ],
            scopes=list(caller.scopes),
            servers=list(caller.allowed_servers),
            cidrs=list(caller.allowed_cidrs),
            token_id=caller.token_id,
            expires_at=caller.expires_at,
        )

    @router.get("/jwks.json")
    async def jwks(domain: AccountsDep, response: Response) -> JsonWebKeySet:
        """Public keys that verify Switchboard tokens."""
        response.headers["Cache-Control"] = "public, max-age=300"
        return JsonWebKeySet(**domain.jwks())

    @router.post(
        "/users",
        status_code=201,
        responses={**_ERRORS, 403: {"description": "Not an administrator"}},
        openapi_extra=audits("user.create"),
    )
    async def create_user(body: CreateUserRequest, caller: AdminPrincipal, domain: AccountsDep) -> UserInfo:
        """Add a user (administrators only)."""
        user = await domain.create_user(
            caller, email=body.email, password=body.password, is_admin=body.is_admin
        )
        return _user_info(user)

    @router.get("/users", responses={**_ERRORS, 403: {"description": "Not an administrator"}})
    async def list_users(
        caller: AdminPrincipal, domain: AccountsDep, limit: Limit = 100, offset: Offset = 0
    ) -> list[UserInfo]:
        """All users, oldest first (administrators only)."""
        return [_user_info(user) for user in await domain.users(caller, limit=limit, offset=offset)]

    return router


def _user_info(user: UserRow) -> UserInfo:
    return UserInfo(id=user.id, email=user.email, is_admin=user.is_admin, created_at=user.created_at)
