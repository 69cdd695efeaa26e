"""Rotating signing keys without downtime: a new key is published first, signs after
the publish delay, the old one verifies what it signed until retired, and retirement
(by an administrator, or once every token a key signed is over) takes it out of the
JWKS and refuses its tokens. Across replicas, a rotation on one switches the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import jwt
from sqlalchemy import update
from switchboard_auth.domain.signing_keys import KeyRing
from switchboard_auth.store.tables import api_tokens
from switchboard_core.db import create_engine, sessionmaker


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def published_kids(auth) -> set[str]:
    return {key["kid"] for key in (await auth.http.get("/auth/jwks.json")).json()["keys"]}


async def keys_api(auth, admin: str, method: str, path: str, **kwargs):
    return await auth.http.request(method, path, headers={"authorization": f"Bearer {admin}"}, **kwargs)


async def test_a_rotation_keeps_old_tokens_valid_signs_new_ones_with_the_new_key_and_publishes_both(auth):
    old_token = await auth.login()
    old_kid = kid_of(old_token)
    rotated = await keys_api(auth, old_token, "POST", "/auth/keys/rotate", json={"publish_delay_s": 0})
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    assert rotated.json()["state"] == "signing" and new_kid != old_kid
    assert "private" not in rotated.text and '"d"' not in rotated.text

    new_token = await auth.login()
    assert kid_of(new_token) == new_kid
    assert (await auth.authenticate(old_token)).email == (await auth.authenticate(new_token)).email
    assert await published_kids(auth) == {old_kid, new_kid}
    listed = (await keys_api(auth, new_token, "GET", "/auth/keys")).json()
    assert [(k["kid"], k["state"]) for k in listed] == [(old_kid, "verifying"), (new_kid, "signing")]


async def test_a_retired_key_leaves_the_jwks_and_its_tokens_are_refused(auth):
    old_token = await auth.login()
    old_kid = kid_of(old_token)
    await keys_api(auth, old_token, "POST", "/auth/keys/rotate", json={"publish_delay_s": 0})
    new_token = await auth.login()
    assert (
        await auth.http.get("/auth/me", headers={"authorization": f"Bearer {old_token}"})
    ).status_code == 200

    retired = await keys_api(auth, new_token, "POST", f"/auth/keys/{old_kid}/retire")
    assert retired.status_code == 204, retired.text
    assert await published_kids(auth) == {kid_of(new_token)}
    assert "unknown key" in await auth.rejection(old_token)
    # The HTTP face's principal cache dropped the principal it held for the old token.
    with anyio.fail_after(5):
        while (  # noqa: ASYNC110 - the cache offers no event to wait on
            await auth.http.get("/auth/me", headers={"authorization": f"Bearer {old_token}"})
        ).status_code != 401:
            await anyio.sleep(0.05)
    assert (await auth.authenticate(new_token)).email
    listed = {k["kid"]: k["state"] for k in (await keys_api(auth, new_token, "GET", "/auth/keys")).json()}
    assert listed[old_kid] == "retired"


async def test_the_signing_key_cannot_be_retired_and_an_unknown_one_is_404(auth):
    admin = await auth.login()
    assert (await keys_api(auth, admin, "POST", f"/auth/keys/{kid_of(admin)}/retire")).status_code == 409
    assert (await keys_api(auth, admin, "POST", "/auth/keys/nope/retire")).status_code == 404


async def test_only_administrators_see_or_rotate_keys(auth):
    admin = await auth.login()
    await auth.add_user(admin, "plain@example.com")
    plain = await auth.login("plain@example.com", "a long enough password")
    assert (await keys_api(auth, plain, "GET", "/auth/keys")).status_code == 403
    assert (await keys_api(auth, plain, "POST", "/auth/keys/rotate")).status_code == 403
    assert (await auth.http.get("/auth/keys")).status_code == 401


async def test_a_key_with_a_publish_delay_is_published_at_once_and_signs_only_later(auth):
    admin = await auth.login()
    rotated = (
        await keys_api(auth, admin, "POST", "/auth/keys/rotate", json={"publish_delay_s": 3600})
    ).json()
    assert rotated["state"] == "pending"
    assert rotated["kid"] in await published_kids(auth)
    assert kid_of(await auth.login()) == kid_of(admin)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_superseded_key_retires_itself_once_every_token_it_signed_is_over(auth):
    """The ring on the service's database, with a clock the test moves."""
    admin = await auth.login()
    old_kid = kid_of(admin)
    engine = create_engine(auth.settings.database_url)
    clock = Clock()
    ring = KeyRing(
        sessionmaker(engine),
        clock,
        refresh=timedelta(seconds=30),
        clock_skew=timedelta(seconds=30),
        sealing=auth.settings.sealing_keys(),
    )
    try:
        await ring.load()
        new = await ring.rotate(timedelta(0))
        assert ring.signing().kid == new.kid
        assert await ring.retire_due() == []  # other replicas may not have switched yet
        clock.now += timedelta(minutes=5)
        # The tokens the old key signed (the admin's login among them) still live.
        assert await ring.retire_due() == []
        async with sessionmaker(engine).begin() as session:
            await session.execute(
                update(api_tokens).where(api_tokens.c.kid == old_kid).values(revoked_at=clock.now)
            )
        assert await ring.retire_due() == [old_kid]
        assert {key["kid"] for key in ring.jwks()["keys"]} == {new.kid}
        assert await ring.verification_key(old_kid) is None
    finally:
        await engine.dispose()


async def test_a_superseded_key_is_kept_while_a_token_it_signed_has_not_expired(auth):
    await auth.login()
    engine = create_engine(auth.settings.database_url)
    clock = Clock()
    ring = KeyRing(
        sessionmaker(engine),
        clock,
        refresh=timedelta(seconds=30),
        clock_skew=timedelta(seconds=30),
        sealing=auth.settings.sealing_keys(),
    )
    try:
        await ring.load()
        old_kid = ring.signing().kid
        await ring.rotate(timedelta(0))
        # Past the login tokens' lifetime (8 h), but within the skew allowance: kept.
        clock.now += timedelta(seconds=auth.settings.login_token_ttl_s + 20)
        assert await ring.retire_due() == []
        clock.now += timedelta(seconds=20)
        assert await ring.retire_due() == [old_kid]
    finally:
        await engine.dispose()


async def test_a_rotation_on_one_replica_makes_the_other_sign_with_the_new_key_within_seconds(replicas):
    rotating, other = replicas
    settings = rotating.settings
    new = await rotating.opened.keys.rotate(timedelta(0))
    with anyio.fail_after(5):
        while other.opened.keys.signing().kid != new.kid:  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.02)
    issued = await other.accounts.login(settings.bootstrap_admin_email, settings.bootstrap_admin_password)
    assert kid_of(issued.access_token) == new.kid
    assert (await rotating.accounts.authenticate(issued.access_token)).email == settings.bootstrap_admin_email
