"""Sealing secrets at rest (upstream credentials) with AES-256-GCM.

Keys come from `SWITCHBOARD_SECRET_KEYS`: a comma-separated list of `kid:base64key`
entries, each key 32 bytes. The first key seals; every key listed unseals, so a key
is rotated by putting a new one first, re-sealing (`switchboard secrets rotate`),
then dropping the old one. A sealed value reads `v1:<kid>:<base64url(nonce ‖
ciphertext ‖ tag)>` with a random 96-bit nonce; it is bound by associated data to
what it belongs to (a gateway's id), so a value copied onto another row fails to open.

An embedded gateway started without the setting makes a key of its own on first start
(`<data_dir>/secret.keys`, mode 0600), so one command still gives a working gateway.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from switchboard_core.errors import InvalidInput

logger = logging.getLogger(__name__)

KEYS_SETTING = "SWITCHBOARD_SECRET_KEYS"
KEY_FILE = "secret.keys"
_VERSION = "v1"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_KID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class SealError(InvalidInput):
    """A sealed value that cannot be opened (unknown key, tampered, another owner's) or no
    key to seal with. The message names the key id, never a key or the secret."""

    def __init__(self, message: str, *, kid: str = "") -> None:
        super().__init__(message)
        self.kid = kid


@dataclass(frozen=True, slots=True)
class Resealed:
    """What a key rotation did to the values a service keeps sealed."""

    resealed: int
    current: int
    # The values no listed key opens, by their owner's id, with why (the key id, never a secret).
    unopened: dict[str, str]


def new_key_entry(kid: str | None = None) -> str:
    """A fresh `kid:base64key` entry for `SWITCHBOARD_SECRET_KEYS`."""
    kid = kid or f"k{secrets.token_hex(4)}"
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


@dataclass(frozen=True, slots=True)
class SecretKeys:
    """The keys in order: the first seals, all unseal. Empty: nothing can be sealed."""

    keys: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def parse(cls, text: str) -> SecretKeys:
        """From `kid:base64key,…`; ValueError names the bad entry by position and kid only."""
        keys: list[tuple[str, bytes]] = []
        for position, raw in enumerate(e.strip() for e in text.split(",")):
            if not raw:
                continue
            kid, sep, encoded = raw.partition(":")
            if not sep or not _KID.fullmatch(kid):
                raise ValueError(f"{KEYS_SETTING} entry {position + 1} is not `kid:base64key`")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{KEYS_SETTING} key {kid!r} is not base64") from None
            if len(key) != _KEY_BYTES:
                raise ValueError(f"{KEYS_SETTING} key {kid!r} is {len(key)} bytes, not {_KEY_BYTES}")
            if any(kid == seen for seen, _ in keys):
                raise ValueError(f"{KEYS_SETTING} names the key {kid!r} twice")
            keys.append((kid, key))
        return cls(tuple(keys))

    @property
    def sealing_kid(self) -> str:
        return self.keys[0][0] if self.keys else ""

    def seal(self, plaintext: bytes, *, bound_to: str) -> str:
        """`plaintext` sealed with the first key, opening only for the same `bound_to`."""
        if not self.keys:
            raise SealError(
                f"no key to seal secrets with: set {KEYS_SETTING} (`switchboard secrets new-key`)"
            )
        kid, key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, _associated(kid, bound_to))
        return f"{_VERSION}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def unseal(self, sealed: str, *, bound_to: str) -> bytes:
        """The plaintext; SealError when no listed key opens it for `bound_to`."""
        kid = kid_of(sealed)
        key = dict(self.keys).get(kid)
        if key is None:
            raise SealError(f"sealed with key {kid!r}, which {KEYS_SETTING} does not list", kid=kid)
        try:
            raw = base64.urlsafe_b64decode(sealed.split(":", 2)[2])
            return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(kid, bound_to))
        except (InvalidTag, binascii.Error, ValueError):
            raise SealError(
                f"a value sealed with key {kid!r} does not open (altered, or not its own)", kid=kid
            ) from None

    def is_current(self, sealed: str) -> bool:
        """Whether `sealed` is sealed with the key sealing now (rotation has nothing to do)."""
        return bool(self.keys) and kid_of(sealed) == self.sealing_kid


def kid_of(sealed: str) -> str:
    version, _, rest = sealed.partition(":")
    kid, sep, _ = rest.partition(":")
    if version != _VERSION or not sep or not kid:
        raise SealError("not a sealed value")
    return kid


def _associated(kid: str, bound_to: str) -> bytes:
    return f"switchboard/{_VERSION}/{kid}/{bound_to}".encode()


def embedded_keys(data_dir: Path) -> SecretKeys:
    """The embedded gateway's own key: read from the data directory, made there on first use.

    Written whole under another name, then linked into place: a process starting at the
    same moment either makes the file or reads all of it, never half."""
    path = data_dir / KEY_FILE
    if path.exists():
        return SecretKeys.parse(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(new_key_entry() + "\n")
    try:
        os.link(draft, path)
        made = True
    except FileExistsError:
        made = False
    finally:
        draft.unlink()
    keys = SecretKeys.parse(path.read_text())
    if made:
        logger.warning(
            "%s is not set: made a key (%s) for sealing upstream credentials in %s; "
            "keep that file, or set %s, to keep them readable",
            KEYS_SETTING,
            keys.sealing_kid,
            path,
            KEYS_SETTING,
        )
    return keys
