"""The REST face: login, tokens, me, JWKS and minimal user administration."""

from __future__ import annotations

import jwt


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


async def add_user(auth, admin: str, email: str, password: str = "a long enough password", is_admin=False):
    response = await auth.http.post(
        "/auth/users",
        json={"email": email, "password": password, "is_admin": is_admin},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_login_with_a_wrong_password_is_401_with_a_generic_message(auth):
    response = await auth.http.post("/auth/login", json={"email": "root@example.com", "password": "nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {"error": "Unauthenticated", "detail": "invalid email or password"}


async def test_login_with_an_unknown_email_looks_like_a_wrong_password(auth):
    for email in ("nobody@example.com", "not-an-email"):
        response = await auth.http.post("/auth/login", json={"email": email, "password": "whatever"})
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid email or password"


async def test_login_returns_a_bearer_token_that_expires_with_the_login_ttl(auth):
    response = await auth.http.post(
        "/auth/login", json={"email": "  Root@Example.com ", "password": "correct horse battery staple"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == auth.settings.login_token_ttl_s


async def test_me_describes_the_caller(auth):
    token = await auth.login()
    response = await auth.http.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200
    me = response.json()
    assert me["email"] == "root@example.com" and me["is_admin"] is True
    assert me["token_id"] == jwt.decode(token, options={"verify_signature": False})["jti"]


async def test_routes_that_need_a_caller_refuse_anonymous_requests(auth):
    for method, path in (("GET", "/auth/me"), ("GET", "/auth/tokens"), ("POST", "/auth/tokens")):
        response = await auth.http.request(method, path, json={"name": "x"})
        assert response.status_code == 401, (method, path)


async def test_a_minted_api_token_is_listed_without_its_secret_and_can_be_revoked(auth):
    admin = await auth.login()
    response = await auth.http.post(
        "/auth/tokens", json={"name": "ci", "expires_in_days": 7}, headers=bearer(admin)
    )
    assert response.status_code == 201
    minted = response.json()
    assert (await auth.authenticate(minted["access_token"])).token_id == minted["id"]

    listed = (await auth.http.get("/auth/tokens", headers=bearer(admin))).json()
    ci = next(t for t in listed if t["id"] == minted["id"])
    assert ci["name"] == "ci" and ci["revoked"] is False and ci["last_used_at"] is not None
    assert all("access_token" not in t for t in listed)
    assert minted["access_token"] not in str(listed)

    assert (await auth.http.delete(f"/auth/tokens/{minted['id']}", headers=bearer(admin))).status_code == 204
    listed = (await auth.http.get("/auth/tokens", headers=bearer(admin))).json()
    assert next(t for t in listed if t["id"] == minted["id"])["revoked"] is True
    assert "revoked" in await auth.rejection(minted["access_token"])


async def test_token_lifetimes_default_and_are_bounded(auth):
    admin = await auth.login()
    response = await auth.http.post("/auth/tokens", json={"name": "default"}, headers=bearer(admin))
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == auth.settings.default_token_ttl_days * 86400
    response = await auth.http.post(
        "/auth/tokens", json={"name": "x", "expires_in_days": 0}, headers=bearer(admin)
    )
    assert response.status_code == 422


async def test_only_administrators_mint_tokens_for_other_users(auth):
    admin = await auth.login()
    await add_user(auth, admin, "alice@example.com")
    await add_user(auth, admin, "bob@example.com")
    alice = await auth.login("alice@example.com", "a long enough password")

    for_bob = await auth.http.post(
        "/auth/tokens", json={"name": "bot", "email": "bob@example.com"}, headers=bearer(alice)
    )
    assert for_bob.status_code == 403

    for_bob = await auth.http.post(
        "/auth/tokens", json={"name": "bot", "email": "bob@example.com"}, headers=bearer(admin)
    )
    assert for_bob.status_code == 201
    principal = await auth.authenticate(for_bob.json()["access_token"])
    assert principal.email == "bob@example.com" and not principal.is_admin

    for_nobody = await auth.http.post(
        "/auth/tokens", json={"name": "bot", "email": "nobody@example.com"}, headers=bearer(admin)
    )
    assert for_nobody.status_code == 404


async def test_users_revoke_their_own_tokens_and_administrators_any(auth):
    admin = await auth.login()
    await add_user(auth, admin, "alice@example.com")
    alice = await auth.login("alice@example.com", "a long enough password")
    admin_token_id = jwt.decode(admin, options={"verify_signature": False})["jti"]
    alice_token_id = jwt.decode(alice, options={"verify_signature": False})["jti"]

    response = await auth.http.delete(f"/auth/tokens/{admin_token_id}", headers=bearer(alice))
    assert response.status_code == 404
    assert (await auth.authenticate(admin)).email == "root@example.com"

    assert (
        await auth.http.delete(f"/auth/tokens/{alice_token_id}", headers=bearer(admin))
    ).status_code == 204
    assert "revoked" in await auth.rejection(alice)


async def test_user_administration_is_for_administrators_only(auth):
    admin = await auth.login()
    created = await add_user(auth, admin, "Carol@Example.com")
    assert created["email"] == "carol@example.com" and created["is_admin"] is False
    carol = await auth.login("carol@example.com", "a long enough password")

    assert (await auth.http.get("/auth/users", headers=bearer(carol))).status_code == 403
    response = await auth.http.post(
        "/auth/users",
        json={"email": "eve@example.com", "password": "a long enough password"},
        headers=bearer(carol),
    )
    assert response.status_code == 403

    users = (await auth.http.get("/auth/users", headers=bearer(admin))).json()
    assert [u["email"] for u in users] == ["root@example.com", "carol@example.com"]
    assert all("password" not in str(u) for u in users)


async def test_adding_a_user_twice_is_a_conflict(auth):
    admin = await auth.login()
    await add_user(auth, admin, "dave@example.com")
    response = await auth.http.post(
        "/auth/users",
        json={"email": "DAVE@example.com", "password": "another password"},
        headers=bearer(admin),
    )
    assert response.status_code == 409


async def test_the_jwks_verifies_issued_tokens_without_authentication(auth):
    token = await auth.login()
    response = await auth.http.get("/auth/jwks.json")
    assert response.status_code == 200
    jwk_set = jwt.PyJWKSet.from_dict(response.json())
    key = jwk_set[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="switchboard", issuer="switchboard")
    assert claims["email"] == "root@example.com"
    assert all("d" not in k for k in response.json()["keys"])


async def test_the_openapi_document_lists_the_auth_routes_under_the_auth_tag(auth):
    spec = (await auth.http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/auth/login",
        "/auth/tokens",
        "/auth/tokens/{token_id}",
        "/auth/me",
        "/auth/jwks.json",
        "/auth/users",
    ):
        assert path in paths
        assert all(op["tags"] == ["auth"] for op in paths[path].values())
    assert "LoginRequest" in spec["components"]["schemas"]
