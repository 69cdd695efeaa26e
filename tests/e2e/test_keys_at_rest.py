"""What an embedded gateway leaves on disk: owner-only files and directories whatever the
umask it was started with, and signing keys that are stored only sealed (a database
from before sealing is sealed at start, and the tokens issued before still verify)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from switchboard_auth.domain import key_material
from switchboard_core.security.sealing import embedded_keys
from switchboard_testing.gateway_process import ADMIN_EMAIL, ADMIN_PASSWORD, GatewayProcess, start_gateway
from switchboard_testing.internal import INTERNAL_ENV
from switchboard_testing.upstream_process import UpstreamProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    """Started as from a shell whose umask lets everyone read and write what it makes."""
    with start_gateway(umask=0o000) as process:
        yield process


def login(gateway: GatewayProcess) -> str:
    response = httpx.post(
        f"{gateway.base_url}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def stored_keys(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "auth.db") as db:
        return db.execute("SELECT kid, private_key_pem FROM signing_keys ORDER BY created_at").fetchall()


def test_every_file_the_gateway_made_is_owner_only_although_its_umask_was_open(
    gateway: GatewayProcess, fixture_upstream: UpstreamProcess
) -> None:
    token = login(gateway)
    created = httpx.post(
        f"{gateway.base_url}/gateways",
        json={"name": "alpha", "url": fixture_upstream.url},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text

    found = [gateway.data_dir, *gateway.data_dir.rglob("*")]
    names = {path.name for path in found}
    # SQLite's own files are among them, not only those the gateway opens itself.
    assert {"auth.db", "auth.db-wal", "auth.db-shm", "registry.db-wal", "secret.keys"} <= names
    loose = {
        str(path.relative_to(gateway.data_dir.parent)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in found
        if stat.S_IMODE(path.lstat().st_mode) != (0o700 if path.is_dir() else 0o600)
    }
    assert loose == {}


def test_the_signing_key_is_stored_only_sealed_and_its_public_half_is_still_published(
    gateway: GatewayProcess,
) -> None:
    token = login(gateway)
    kid = jwt.get_unverified_header(token)["kid"]
    stored = dict(stored_keys(gateway.data_dir))
    assert stored[kid].startswith("v1:")

    on_disk = b"".join(path.read_bytes() for path in gateway.data_dir.glob("auth.db*"))
    assert b"PRIVATE KEY" not in on_disk
    pem = key_material.open_private(embedded_keys(gateway.data_dir), kid, stored[kid])
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    assert der not in on_disk and scalar not in on_disk

    published = httpx.get(f"{gateway.base_url}/auth/jwks.json", timeout=30).json()["keys"]
    jwk = next(key for key in published if key["kid"] == kid)
    assert "d" not in jwk
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=["ES256"], options={"verify_aud": False, "verify_iss": False}
    )
    assert claims["sub"]


def test_keys_stored_in_clear_by_an_earlier_version_are_sealed_and_its_tokens_still_verify(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with start_gateway(data_dir=data_dir) as before:
        api_token = before.mint_token()
        login_token = login(before)
    # What a version before auth revision 0007 left: the same rows with the key in clear.
    (kid, sealed), *_ = stored_keys(data_dir)
    pem = key_material.open_private(embedded_keys(data_dir), kid, sealed)
    with sqlite3.connect(data_dir / "auth.db") as db:
        db.execute("UPDATE signing_keys SET private_key_pem = ? WHERE kid = ?", (pem, kid))
        db.execute("UPDATE alembic_version_auth SET version_num = '0006'")

    with start_gateway(data_dir=data_dir) as after:
        assert "migrated the auth database: 0006 -> 0007" in after.log()
        for token in (api_token, login_token):
            answer = httpx.get(
                f"{after.base_url}/auth/keys", headers={"authorization": f"Bearer {token}"}, timeout=30
            )
            assert answer.status_code == 200, answer.text
        assert [key["kid"] for key in answer.json() if key["state"] == "signing"] == [kid]
        assert jwt.get_unverified_header(login(after))["kid"] == kid
    [(same_kid, now_stored)] = stored_keys(data_dir)
    assert same_kid == kid and now_stored.startswith("v1:")
    assert key_material.open_private(embedded_keys(data_dir), kid, now_stored) == pem


def test_auth_apart_without_a_sealing_key_refuses_to_start_and_says_what_to_set(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", "serve", "auth"],
        env={
            **clean,
            **INTERNAL_ENV,
            "SWITCHBOARD_DATA_DIR": str(tmp_path),
            "SWITCHBOARD_REDIS_URL": "redis://127.0.0.1:1/0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SWITCHBOARD_SECRET_KEYS is not set" in done.stderr
    assert "Traceback" not in done.stderr
