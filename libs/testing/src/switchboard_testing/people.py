"""Users, teams and roles made through the auth service's HTTP API, for end-to-end tests
that act as someone other than the administrator."""

from __future__ import annotations

import httpx

PASSWORD = "a long enough passphrase"


def create_user(admin: httpx.Client, email: str, *, is_admin: bool = False) -> str:
    """The new user's id."""
    response = admin.post("/auth/users", json={"email": email, "password": PASSWORD, "is_admin": is_admin})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def login(client: httpx.Client, email: str) -> str:
    """A session token of the user's (whose principal carries their memberships)."""
    response = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def create_team(admin: httpx.Client, name: str) -> str:
    response = admin.post("/auth/teams", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def add_member(admin: httpx.Client, team_id: str, email: str, role: str) -> None:
    response = admin.post(f"/auth/teams/{team_id}/members", json={"email": email, "role": role})
    assert response.status_code == 201, response.text


def create_role(admin: httpx.Client, name: str, permissions: list[str]) -> None:
    response = admin.post("/auth/roles", json={"name": name, "permissions": permissions})
    assert response.status_code == 201, response.text
