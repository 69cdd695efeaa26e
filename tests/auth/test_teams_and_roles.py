"""Teams with members and roles, custom roles, and what a verified token then carries:
every membership with what its role permits, changed without a new token."""

from __future__ import annotations

from switchboard_core.policy import BUILTIN_ROLES

PASSWORD = "a long enough password"


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


async def _user(auth, admin: str, email: str) -> tuple[dict, str]:
    user = await auth.add_user(admin, email, PASSWORD)
    return user, await auth.login(email, PASSWORD)


async def _team(auth, token: str, name: str) -> dict:
    response = await auth.http.post("/auth/teams", json={"name": name}, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def _roles(principal) -> dict[str, str]:
    return {m.team_id: m.role for m in principal.memberships}


async def test_every_user_has_a_personal_team_they_administer(auth):
    admin = await auth.login()
    user, token = await _user(auth, admin, "dev@example.com")
    (personal,) = (await auth.http.get("/auth/teams", headers=bearer(token))).json()
    assert personal["personal"] and personal["name"] == "dev@example.com (personal)"
    principal = await auth.authenticate(token)
    assert _roles(principal) == {personal["id"]: "team_admin"}
    assert list(principal.teams) == [personal["id"]]
    refused = await auth.http.post(
        f"/auth/teams/{personal['id']}/members",
        json={"email": "root@example.com", "role": "viewer"},
        headers=bearer(token),
    )
    assert refused.status_code == 400, refused.text
    assert (await auth.http.delete(f"/auth/teams/{personal['id']}", headers=bearer(token))).status_code == 400


async def test_a_team_maker_administers_it_and_members_get_their_role_without_a_new_token(auth):
    admin = await auth.login()
    _, owner = await _user(auth, admin, "owner@example.com")
    dev, dev_token = await _user(auth, admin, "dev@example.com")
    team = await _team(auth, owner, "platform")

    added = await auth.http.post(
        f"/auth/teams/{team['id']}/members",
        json={"email": "DEV@example.com", "role": "developer"},
        headers=bearer(owner),
    )
    assert added.status_code == 201, added.text
    principal = await auth.authenticate(dev_token)
    assert _roles(principal)[team["id"]] == "developer"
    (membership,) = [m for m in principal.memberships if m.team_id == team["id"]]
    assert set(membership.permissions) == BUILTIN_ROLES["developer"]

    changed = await auth.http.patch(
        f"/auth/teams/{team['id']}/members/{dev['id']}", json={"role": "viewer"}, headers=bearer(owner)
    )
    assert changed.status_code == 200, changed.text
    assert _roles(await auth.authenticate(dev_token))[team["id"]] == "viewer"
    members = (await auth.http.get(f"/auth/teams/{team['id']}/members", headers=bearer(dev_token))).json()
    assert {(m["email"], m["role"]) for m in members} == {
        ("owner@example.com", "team_admin"),
        ("dev@example.com", "viewer"),
    }

    removed = await auth.http.delete(f"/auth/teams/{team['id']}/members/{dev['id']}", headers=bearer(owner))
    assert removed.status_code == 204
    assert team["id"] not in _roles(await auth.authenticate(dev_token))


async def test_a_member_without_teams_manage_changes_nothing_and_outsiders_see_nothing(auth):
    admin = await auth.login()
    _, owner = await _user(auth, admin, "owner@example.com")
    _, dev = await _user(auth, admin, "dev@example.com")
    _, outsider = await _user(auth, admin, "outsider@example.com")
    team = await _team(auth, owner, "platform")
    await auth.http.post(
        f"/auth/teams/{team['id']}/members",
        json={"email": "dev@example.com", "role": "developer"},
        headers=bearer(owner),
    )
    add = {"email": "outsider@example.com", "role": "viewer"}
    assert (
        await auth.http.post(f"/auth/teams/{team['id']}/members", json=add, headers=bearer(dev))
    ).status_code == 403
    assert (await auth.http.delete(f"/auth/teams/{team['id']}", headers=bearer(dev))).status_code == 403
    assert (await auth.http.get(f"/auth/teams/{team['id']}", headers=bearer(outsider))).status_code == 404
    assert (
        await auth.http.get(f"/auth/teams/{team['id']}/members", headers=bearer(outsider))
    ).status_code == 404
    everything = (await auth.http.get("/auth/teams", headers=bearer(admin))).json()
    assert team["id"] in {t["id"] for t in everything}  # an administrator sees every team


async def test_a_team_keeps_at_least_one_team_admin(auth):
    admin = await auth.login()
    owner_user, owner = await _user(auth, admin, "owner@example.com")
    team = await _team(auth, owner, "platform")
    demote = await auth.http.patch(
        f"/auth/teams/{team['id']}/members/{owner_user['id']}", json={"role": "viewer"}, headers=bearer(owner)
    )
    assert demote.status_code == 409, demote.text
    leave = await auth.http.delete(
        f"/auth/teams/{team['id']}/members/{owner_user['id']}", headers=bearer(owner)
    )
    assert leave.status_code == 409


async def test_unknown_and_platform_roles_cannot_be_given_in_a_team(auth):
    admin = await auth.login()
    _, owner = await _user(auth, admin, "owner@example.com")
    await auth.add_user(admin, "dev@example.com", PASSWORD)
    team = await _team(auth, owner, "platform")
    for role in ("no-such-role", "platform_admin"):
        response = await auth.http.post(
            f"/auth/teams/{team['id']}/members",
            json={"email": "dev@example.com", "role": role},
            headers=bearer(owner),
        )
        assert response.status_code == 400, (role, response.text)


async def test_a_custom_role_is_given_like_a_built_in_one_and_its_changes_reach_holders_at_once(auth):
    admin = await auth.login()
    _, owner = await _user(auth, admin, "owner@example.com")
    _, runner = await _user(auth, admin, "runner@example.com")
    team = await _team(auth, owner, "platform")
    made = await auth.http.post(
        "/auth/roles",
        json={
            "name": "tool-runner",
            "description": "calls tools",
            "permissions": ["tools.read", "tools.execute"],
        },
        headers=bearer(admin),
    )
    assert made.status_code == 201, made.text
    await auth.http.post(
        f"/auth/teams/{team['id']}/members",
        json={"email": "runner@example.com", "role": "tool-runner"},
        headers=bearer(owner),
    )
    (membership,) = [m for m in (await auth.authenticate(runner)).memberships if m.team_id == team["id"]]
    assert (membership.role, set(membership.permissions)) == ("tool-runner", {"tools.read", "tools.execute"})

    changed = await auth.http.put(
        "/auth/roles/tool-runner", json={"permissions": ["tools.read"]}, headers=bearer(admin)
    )
    assert changed.status_code == 200, changed.text
    (membership,) = [m for m in (await auth.authenticate(runner)).memberships if m.team_id == team["id"]]
    assert set(membership.permissions) == {"tools.read"}
    # A role still held is not removed.
    assert (await auth.http.delete("/auth/roles/tool-runner", headers=bearer(admin))).status_code == 409
    listed = {r["name"]: r for r in (await auth.http.get("/auth/roles", headers=bearer(runner))).json()}
    assert set(BUILTIN_ROLES) <= set(listed) and listed["tool-runner"]["builtin"] is False


async def test_custom_roles_are_checked_and_made_by_administrators_only(auth):
    admin = await auth.login()
    _, dev = await _user(auth, admin, "dev@example.com")
    body = {"name": "runner", "permissions": ["tools.execute"]}
    assert (await auth.http.post("/auth/roles", json=body, headers=bearer(dev))).status_code == 403
    for name, permissions, status in [
        ("runner", ["tools.fly"], 400),  # unknown permission
        ("runner", ["users.manage"], 400),  # a platform permission in a team role
        ("developer", ["tools.read"], 409),  # a built-in name
        ("Bad Name", ["tools.read"], 400),
    ]:
        response = await auth.http.post(
            "/auth/roles", json={"name": name, "permissions": permissions}, headers=bearer(admin)
        )
        assert response.status_code == status, (name, permissions, response.text)
    assert (
        await auth.http.put("/auth/roles/viewer", json={"permissions": ["tools.read"]}, headers=bearer(admin))
    ).status_code == 400
    permissions = (await auth.http.get("/auth/permissions", headers=bearer(dev))).json()
    assert {
        "name": "users.manage",
        "description": "create, change and delete users",
        "platform_only": True,
    } in permissions


async def test_a_deleted_team_leaves_its_members_principals(auth):
    admin = await auth.login()
    _, owner = await _user(auth, admin, "owner@example.com")
    team = await _team(auth, owner, "short-lived")
    assert team["id"] in _roles(await auth.authenticate(owner))
    assert (await auth.http.delete(f"/auth/teams/{team['id']}", headers=bearer(owner))).status_code == 204
    assert team["id"] not in _roles(await auth.authenticate(owner))
