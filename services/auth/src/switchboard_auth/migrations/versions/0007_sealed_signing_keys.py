"""Signing keys sealed at rest: every private key stored in clear is sealed with the
first of `SWITCHBOARD_SECRET_KEYS` (bound to its key's id), as upstream credentials
are. The column keeps its name and type; only what it holds changes.

The keys come from the service (`prepare(..., sealing_keys=...)`): a database holding
a key in clear is not upgraded without them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from switchboard_auth.domain import key_material
from switchboard_core.security.sealing import SealError, SecretKeys

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STORED = sa.text("SELECT kid, private_key_pem FROM signing_keys ORDER BY kid")
_REPLACE = sa.text("UPDATE signing_keys SET private_key_pem = :now WHERE kid = :kid")


def upgrade() -> None:
    conn = op.get_bind()
    clear = [(kid, pem) for kid, pem in conn.execute(_STORED) if key_material.is_clear(pem)]
    if not clear:
        return
    keys = _keys("seal the signing keys stored in clear")
    for kid, pem in clear:
        conn.execute(_REPLACE, {"kid": kid, "now": key_material.seal_private(keys, kid, pem)})


def downgrade() -> None:
    conn = op.get_bind()
    sealed = [(kid, stored) for kid, stored in conn.execute(_STORED) if not key_material.is_clear(stored)]
    if not sealed:
        return
    keys = _keys("open the sealed signing keys")
    for kid, stored in sealed:
        conn.execute(_REPLACE, {"kid": kid, "now": key_material.open_private(keys, kid, stored)})


def _keys(purpose: str) -> SecretKeys:
    keys: SecretKeys | None = context.config.attributes.get("sealing_keys")
    if keys is None or not keys.keys:
        raise SealError(
            f"auth migration 0007 must {purpose}, and has no key to do it with: "
            "set SWITCHBOARD_SECRET_KEYS (docs/identity.md)"
        )
    return keys
