"""Sealing secrets at rest: AES-256-GCM under keys from SWITCHBOARD_SECRET_KEYS."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import pytest
from switchboard_core.security.sealing import KEY_FILE, SealError, SecretKeys, kid_of, new_key_entry
from switchboard_core.settings import ServiceSettings

OLD = new_key_entry("old")
NEW = new_key_entry("new")


def test_a_sealed_value_opens_for_what_it_is_bound_to() -> None:
    keys = SecretKeys.parse(OLD)
    sealed = keys.seal(b"s3cret-token", bound_to="gateway-1")
    assert b"s3cret-token" not in sealed.encode()
    assert kid_of(sealed) == "old"
    assert keys.unseal(sealed, bound_to="gateway-1") == b"s3cret-token"


def test_each_sealing_uses_a_fresh_nonce() -> None:
    keys = SecretKeys.parse(OLD)
    assert keys.seal(b"same", bound_to="g") != keys.seal(b"same", bound_to="g")


def test_a_value_copied_onto_another_gateway_does_not_open() -> None:
    keys = SecretKeys.parse(OLD)
    sealed = keys.seal(b"s3cret", bound_to="gateway-1")
    with pytest.raises(SealError, match="does not open"):
        keys.unseal(sealed, bound_to="gateway-2")


def test_a_tampered_value_does_not_open() -> None:
    keys = SecretKeys.parse(OLD)
    sealed = keys.seal(b"s3cret", bound_to="g")
    version, kid, body = sealed.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(SealError, match="does not open"):
        keys.unseal(f"{version}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}", bound_to="g")


def test_after_rotation_the_old_key_still_opens_and_the_new_one_seals() -> None:
    before = SecretKeys.parse(OLD)
    sealed = before.seal(b"s3cret", bound_to="g")
    after = SecretKeys.parse(f"{NEW},{OLD}")
    assert after.unseal(sealed, bound_to="g") == b"s3cret"
    assert not after.is_current(sealed)
    resealed = after.seal(after.unseal(sealed, bound_to="g"), bound_to="g")
    assert kid_of(resealed) == "new" and after.is_current(resealed)
    assert SecretKeys.parse(NEW).unseal(resealed, bound_to="g") == b"s3cret"


def test_an_unknown_key_id_is_named_in_the_error() -> None:
    sealed = SecretKeys.parse(OLD).seal(b"s3cret", bound_to="g")
    with pytest.raises(SealError, match="'old'") as caught:
        SecretKeys.parse(NEW).unseal(sealed, bound_to="g")
    assert caught.value.kid == "old"


def test_sealing_without_a_key_is_refused_clearly() -> None:
    with pytest.raises(SealError, match="SWITCHBOARD_SECRET_KEYS"):
        SecretKeys().seal(b"s3cret", bound_to="g")


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ("nokid", "entry 1"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"{OLD},{OLD}", "twice"),
    ],
    ids=["no kid", "not base64", "short key", "kid twice"],  # not the keys: fresh per process
)
def test_bad_key_settings_are_refused_without_echoing_keys(setting: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        SecretKeys.parse(setting)
    assert OLD.split(":")[1] not in str(caught.value)


def test_an_embedded_gateway_makes_its_key_once_and_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    with caplog.at_level(logging.WARNING):
        first = settings.sealing_keys()
    second = settings.sealing_keys()
    assert first == second and first.keys
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key_text = path.read_text().strip().split(":")[1]
    assert "made a key" in caplog.text and key_text not in caplog.text


def test_a_distributed_gateway_makes_no_key(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1")
    assert settings.sealing_keys().keys == ()
    assert not (tmp_path / KEY_FILE).exists()


def test_the_keys_setting_is_not_shown_by_the_settings() -> None:
    settings = ServiceSettings(secret_keys=OLD)
    assert OLD.split(":")[1] not in repr(settings)
    assert settings.sealing_keys().sealing_kid == "old"
