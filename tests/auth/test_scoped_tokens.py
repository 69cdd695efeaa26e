"""API tokens limited to scopes (permissions), virtual servers and client networks:
minted, validated, listed, carried by the principal, and never widened by their holder."""

from __future__ import annotations

import jwt
import pytest


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


async def mint(auth, caller: str, **body) -> dict:
    response = await auth.http.post("/auth/tokens", json={"name": "scoped", **body}, headers=bearer(caller))
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_scoped_token_carries_its_limits_into_the_principal(auth):
    admin = await auth.login()
    minted = await mint(
        auth,
        admin,
        scopes=["tools.read", "servers.use", "tools.read"],
        servers=["srv-b", "srv-a"],
        cidrs=["10.1.2.3/8", "2001:db8::1"],
    )
    assert minted["scopes"] == ["servers.use", "tools.read"]
    assert minted["servers"] == ["srv-a", "srv-b"]
    assert minted["cidrs"] == ["10.0.0.0/8", "2001:db8::1/128"]

    principal = await auth.authenticate(minted["access_token"])
    assert list(principal.scopes) == ["servers.use", "tools.read"]
    assert list(principal.allowed_servers) == ["srv-a", "srv-b"]
    assert list(principal.allowed_cidrs) == ["10.0.0.0/8", "2001:db8::1/128"]
    claims = jwt.decode(minted["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "servers.use tools.read"


async def test_scoped_tokens_are_listed_with_their_limits(auth):
    admin = await auth.login()
    scoped = await mint(auth, admin, scopes=["tools.execute"], servers=["srv-1"], cidrs=["192.168.0.0/16"])
    plain = await mint(auth, admin)
    listed = {t["id"]: t for t in (await auth.http.get("/auth/tokens", headers=bearer(admin))).json()}

    def limits(token_id: str) -> tuple:
        return listed[token_id]["scopes"], listed[token_id]["servers"], listed[token_id]["cidrs"]

    assert limits(scoped["id"]) == (["tools.execute"], ["srv-1"], ["192.168.0.0/16"])
    assert limits(plain["id"]) == ([], [], [])


async def test_me_shows_what_the_token_is_limited_to(auth):
    admin = await auth.login()
    scoped = await mint(auth, admin, scopes=["servers.use"], servers=["s1"])
    me = (await auth.http.get("/auth/me", headers=bearer(scoped["access_token"]))).json()
    assert (me["scopes"], me["servers"], me["cidrs"]) == (["servers.use"], ["s1"], [])


async def test_unknown_scopes_are_refused_naming_them(auth):
    admin = await auth.login()
    response = await auth.http.post(
        "/auth/tokens",
        json={"name": "x", "scopes": ["tools.read", "tools.fly", "admin.everything"]},
        headers=bearer(admin),
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "tools.fly" in detail and "admin.everything" in detail and "tools.read" not in detail


@pytest.mark.parametrize(
    ("field", "values", "named"),
    [
        ("cidrs", ["10.0.0.0/33"], "10.0.0.0/33"),
        ("cidrs", ["not-a-network"], "not-a-network"),
        ("servers", ["has space"], "has space"),
        ("servers", [""], "''"),
    ],
)
async def test_malformed_servers_and_networks_are_refused(auth, field, values, named):
    admin = await auth.login()
    response = await auth.http.post("/auth/tokens", json={"name": "x", field: values}, headers=bearer(admin))
    assert response.status_code == 400, response.text
    assert named in response.json()["detail"]


async def test_a_scoped_token_mints_only_narrower_tokens(auth):
    admin = await auth.login()
    scoped = (
        await mint(
            auth, admin, scopes=["servers.use", "tools.read"], servers=["s1", "s2"], cidrs=["10.0.0.0/8"]
        )
    )["access_token"]

    narrower = await mint(auth, scoped, scopes=["tools.read"], servers=["s1"], cidrs=["10.2.0.0/16"])
    assert narrower["scopes"] == ["tools.read"]
    for wider in (
        {"servers": ["s1"], "cidrs": ["10.0.0.0/8"]},  # no scopes: every permission
        {"scopes": ["tools.execute"], "servers": ["s1"], "cidrs": ["10.0.0.0/8"]},
        {"scopes": ["tools.read"], "cidrs": ["10.0.0.0/8"]},  # any server
        {"scopes": ["tools.read"], "servers": ["s3"], "cidrs": ["10.0.0.0/8"]},
        {"scopes": ["tools.read"], "servers": ["s1"]},  # from anywhere
        {"scopes": ["tools.read"], "servers": ["s1"], "cidrs": ["0.0.0.0/0"]},
    ):
        response = await auth.http.post(
            "/auth/tokens", json={"name": "wider", **wider}, headers=bearer(scoped)
        )
        assert response.status_code == 403, wider
