"""`switchboard migrate [SERVICE...]`: bring the services' databases to this version's
schema (services also do it at start unless SWITCHBOARD_MIGRATE_ON_START=false).

Safe to run while replicas start or run: migrators take turns on a lock held for the
one transaction an upgrade is (see switchboard_core.migrations).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError
from switchboard_core.errors import SwitchboardError
from switchboard_core.migrations import MigrationSet, StartupPolicy, current_revision, prepare
from switchboard_core.security.sealing import SecretKeys


def run(services: list[str], *, check: bool) -> int:
    """Migrate (or with `check`, only compare) each service's database; 1 if any failed
    or, with `check`, is not current."""
    status = 0
    for name in services:
        try:
            url, policy, migrations, sealing = _target(name, check=check)
            line, ok = asyncio.run(
                _check(url, migrations) if check else _migrate(url, policy, migrations, sealing)
            )
        except (SwitchboardError, SQLAlchemyError, OSError) as exc:
            message = exc.message if isinstance(exc, SwitchboardError) else str(exc).splitlines()[0]
            print(f"{name}: error: {message}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: {line}")
        status = status if ok else 1
    return status


async def _migrate(
    url: str, policy: StartupPolicy, migrations: MigrationSet, sealing: SecretKeys | None
) -> tuple[str, bool]:
    done = await prepare(url, migrations, policy, sealing_keys=sealing)
    assert done is not None
    if done.adopted:
        return f"adopted a database made before migrations, now at {done.after}", True
    if done.changed:
        return f"migrated {done.before or 'an empty database'} -> {done.after}", True
    return f"up to date at {done.after}", True


async def _check(url: str, migrations: MigrationSet) -> tuple[str, bool]:
    current = await current_revision(url, migrations)
    heads = migrations.heads()
    if current in heads:
        return f"up to date at {current}", True
    return f"at {current or 'no revision'}, this version needs {', '.join(heads)}", False


def _target(name: str, *, check: bool) -> tuple[str, StartupPolicy, MigrationSet, SecretKeys | None]:
    """The service's database URL, how to retry reaching it, its migrations, and the
    keys its revisions seal with (auth's signing keys; a check needs none)."""
    # Imported per service: each pulls in only its own package.
    if name == "auth":
        from switchboard_auth.migrations import MIGRATIONS as migrations
        from switchboard_auth.settings import AuthSettings as Settings
    elif name == "registry":
        from switchboard_registry.migrations import MIGRATIONS as migrations
        from switchboard_registry.settings import RegistrySettings as Settings
    else:
        from switchboard_metrics.migrations import MIGRATIONS as migrations
        from switchboard_metrics.settings import MetricsSettings as Settings
    settings = Settings()
    # Only a database holding keys in clear needs one (the revision says so if it has none).
    sealing = settings.sealing_keys() if name == "auth" and not check else None
    # This command is the migrator, whatever SWITCHBOARD_MIGRATE_ON_START says.
    return settings.database_url, replace(StartupPolicy.of(settings), migrate=True), migrations, sealing
