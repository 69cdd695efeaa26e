"""Set-up steps shared by the end-to-end tests."""

from __future__ import annotations

import httpx


def register(admin: httpx.Client, name: str, url: str) -> dict:
    response = admin.post("/gateways", json={"name": name, "url": url})
    assert response.status_code == 201, response.text
    return response.json()


def create_server(admin: httpx.Client, name: str, tools: list[str], *, bare_names: bool = False) -> str:
    response = admin.post("/servers", json={"name": name, "tools": tools, "bare_names": bare_names})
    assert response.status_code == 201, response.text
    return response.json()["id"]
