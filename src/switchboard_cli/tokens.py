"""`switchboard token create`: mint an API token straight from the auth store, optionally
limited to permissions (scopes), virtual servers and client networks as POST /auth/tokens
limits them."""

from __future__ import annotations

import asyncio
import sys

from switchboard_core.errors import SwitchboardError


def create(
    email: str | None,
    name: str,
    ttl_days: int | None,
    *,
    scopes: list[str] | None = None,
    servers: list[str] | None = None,
    cidrs: list[str] | None = None,
) -> int:
    from switchboard_auth.domain.bootstrap import admin_banner
    from switchboard_auth.offline import create_token, ensure_bootstrap
    from switchboard_auth.settings import AuthSettings

    settings = AuthSettings()

    async def mint() -> str:
        if password := await ensure_bootstrap(settings):
            print(admin_banner(settings.bootstrap_admin_email, password), file=sys.stderr)
        who = email or settings.bootstrap_admin_email
        token, _expires = await create_token(
            settings, email=who, name=name, ttl_days=ttl_days, scopes=scopes, servers=servers, cidrs=cidrs
        )
        return token

    try:
        token = asyncio.run(mint())
    except SwitchboardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(token)
    return 0
