"""Users, teams and tokens made through a real auth service's HTTP API, for tests of
the other services (which start it: this package imports no service)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from switchboard_core.principals import PrincipalCache

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
PASSWORD = "a long enough password"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class AuthUser:
    id: str
    email: str
    token: str
    personal_team_id: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class Auth:
    http: httpx.AsyncClient
    principals: PrincipalCache

    async def login(self, email: str, password: str = PASSWORD) -> str:
        response = await self.http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    async def user(self, admin: str, email: str, *, is_admin: bool = False) -> AuthUser:
        """A new user made by the administrator holding token `admin`, signed in."""
        made = await self.http.post(
            "/auth/users",
            json={"email": email, "password": PASSWORD, "is_admin": is_admin},
            headers=bearer(admin),
        )
        assert made.status_code == 201, made.text
        token = await self.login(email, PASSWORD)
        principal = await self.principals.authenticate(token)
        return AuthUser(made.json()["id"], email, token, principal.personal_team_id)

    async def team(self, owner: AuthUser, name: str, members: list[tuple[AuthUser, str]]) -> str:
        """A team `owner` makes (and administers), with each member in the role given; its id."""
        made = await self.http.post("/auth/teams", json={"name": name}, headers=owner.headers)
        assert made.status_code == 201, made.text
        team_id = made.json()["id"]
        for user, role in members:
            added = await self.http.post(
                f"/auth/teams/{team_id}/members",
                json={"email": user.email, "role": role},
                headers=owner.headers,
            )
            assert added.status_code in (200, 201), added.text
        return team_id
