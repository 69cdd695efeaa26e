"""Set-up steps shared by the end-to-end tests."""

from __future__ import annotations

import httpx


def register(admin: httpx.Client, name: str, url: str, *, visibility: str | None = None) -> dict:
    """A gateway `admin` registers: in their personal team, seen by that team only unless
    `visibility` says otherwise ("public": anyone signed in)."""
    body = {"name": name, "url": url} | ({"visibility": visibility} if visibility else {})
    response = admin.post("/gateways", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_server(
    admin: httpx.Client,
    name: str,
    tools: list[str],
    *,
    bare_names: bool = False,
    visibility: str | None = None,
) -> str:
    body = {"name": name, "tools": tools, "bare_names": bare_names} | (
        {"visibility": visibility} if visibility else {}
    )
    response = admin.post("/servers", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]
