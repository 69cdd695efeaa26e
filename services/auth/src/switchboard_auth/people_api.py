"""HTTP face of user administration, password changes, roles and the permission table
(tags "users", "roles"): translation only, see `domain.user_admin`, `domain.roles`."""

# No `from __future__ import annotations`: FastAPI must see the closure-local
# dependency annotations as objects.

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from switchboard_core.http.deps import CurrentPrincipal
from switchboard_core.http.refusals import audits
from switchboard_core.policy import PERMISSIONS, PLATFORM_PERMISSIONS

from switchboard_auth.api_models import (
    ChangePasswordRequest,
    CreateRoleRequest,
    PermissionInfo,
    RoleInfo,
    RoleRequest,
    UpdateUserRequest,
    UserDetail,
)
from switchboard_auth.domain.accounts import Accounts
from switchboard_auth.domain.roles import Roles, RoleView
from switchboard_auth.domain.user_admin import UserAdmin
from switchboard_auth.store.users import UserRow

_ERRORS = {
    401: {"description": "Missing, invalid, expired or revoked token"},
    403: {"description": "Not an administrator"},
    404: {"description": "No such user or role"},
    409: {"description": "Would leave no administrator, or the role is still held"},
}


def build_people_router(
    accounts: Callable[[], Accounts],
    users: Callable[[], UserAdmin],
    roles: Callable[[], Roles],
    route_class: type[APIRoute],
) -> APIRouter:
    router = APIRouter(prefix="/auth", default_response_class=JSONResponse, route_class=route_class)
    AccountsDep = Annotated[Accounts, Depends(lambda: accounts())]
    UsersDep = Annotated[UserAdmin, Depends(lambda: users())]
    RolesDep = Annotated[Roles, Depends(lambda: roles())]

    @router.post(
        "/me/password",
        status_code=204,
        response_class=Response,
        tags=["auth"],
        responses={**_ERRORS, 403: {"description": "The current password is wrong"}},
        openapi_extra=audits("user.password_change"),
    )
    async def change_password(
        body: ChangePasswordRequest, caller: CurrentPrincipal, domain: AccountsDep
    ) -> Response:
        """Change the caller's password; every login of theirs ends (API tokens stay)."""
        await domain.change_password(caller, current=body.current_password, new=body.new_password)
        return Response(status_code=204)

    @router.get("/users/{user_id}", tags=["users"], responses=_ERRORS)
    async def get_user(user_id: str, caller: CurrentPrincipal, domain: UsersDep) -> UserDetail:
        """One user (administrators, or the user themselves)."""
        return _detail(await domain.get(caller, user_id))

    @router.patch("/users/{user_id}", tags=["users"], responses=_ERRORS, openapi_extra=audits("user.update"))
    async def update_user(
        user_id: str, body: UpdateUserRequest, caller: CurrentPrincipal, domain: UsersDep
    ) -> UserDetail:
        """Promote or demote, reset the password, or unlock (administrators only)."""
        updated = await domain.update(
            caller, user_id, is_admin=body.is_admin, password=body.password, unlock=body.unlock
        )
        return _detail(updated)

    @router.delete(
        "/users/{user_id}",
        status_code=204,
        response_class=Response,
        tags=["users"],
        responses=_ERRORS,
        openapi_extra=audits("user.delete"),
    )
    async def delete_user(user_id: str, caller: CurrentPrincipal, domain: UsersDep) -> Response:
        """Delete a user with their tokens and personal team (administrators only)."""
        await domain.delete(caller, user_id)
        return Response(status_code=204)

    @router.get("/permissions", tags=["roles"])
    async def permissions(caller: CurrentPrincipal) -> list[PermissionInfo]:
        """Every permission a role can grant."""
        return [
            PermissionInfo(name=name, description=text, platform_only=name in PLATFORM_PERMISSIONS)
            for name, text in PERMISSIONS.items()
        ]

    @router.get("/roles", tags=["roles"], responses=_ERRORS)
    async def list_roles(caller: CurrentPrincipal, domain: RolesDep) -> list[RoleInfo]:
        """Built-in roles, then custom ones by name."""
        return [_role(r) for r in await domain.all()]

    @router.post(
        "/roles", status_code=201, tags=["roles"], responses=_ERRORS, openapi_extra=audits("role.create")
    )
    async def create_role(body: CreateRoleRequest, caller: CurrentPrincipal, domain: RolesDep) -> RoleInfo:
        """A custom team role (administrators only)."""
        return _role(await domain.create(caller, body.name, body.description, body.permissions))

    @router.put("/roles/{name}", tags=["roles"], responses=_ERRORS, openapi_extra=audits("role.update"))
    async def update_role(
        name: str, body: RoleRequest, caller: CurrentPrincipal, domain: RolesDep
    ) -> RoleInfo:
        """Replace a custom role's permissions; its holders get them at once."""
        return _role(await domain.update(caller, name, body.description, body.permissions))

    @router.delete(
        "/roles/{name}",
        status_code=204,
        response_class=Response,
        tags=["roles"],
        responses=_ERRORS,
        openapi_extra=audits("role.delete"),
    )
    async def delete_role(name: str, caller: CurrentPrincipal, domain: RolesDep) -> Response:
        await domain.delete(caller, name)
        return Response(status_code=204)

    return router


def _detail(user: UserRow) -> UserDetail:
    return UserDetail(
        id=user.id,
        email=user.email,
        is_admin=user.is_admin,
        created_at=user.created_at,
        locked_until=user.locked_until,
        password_changed_at=user.password_changed_at,
    )


def _role(role: RoleView) -> RoleInfo:
    return RoleInfo(
        name=role.name,
        description=role.description,
        permissions=sorted(role.permissions),
        builtin=role.builtin,
    )
