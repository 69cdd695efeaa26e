"""For the operator's CLI: work on the registry database directly, with no server running."""

from __future__ import annotations

from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.migrations import StartupPolicy, prepare
from switchboard_core.security.sealing import Resealed

from switchboard_registry.domain.changes import ChangeFeed, Changes
from switchboard_registry.domain.resealing import reseal_all
from switchboard_registry.migrations import MIGRATIONS
from switchboard_registry.settings import RegistrySettings
from switchboard_registry.store import revision as revision_store


async def reseal_credentials(settings: RegistrySettings) -> Resealed:
    """Seal every gateway's credentials with the first of `SWITCHBOARD_SECRET_KEYS`."""
    engine = create_engine(settings.database_url)
    try:
        await prepare(settings.database_url, MIGRATIONS, StartupPolicy.of(settings, attempts=1))
        sessions = sessionmaker(engine)
        await revision_store.ensure(sessions)
        return await reseal_all(
            sessions, Changes(sessions, ChangeFeed(), None, None), settings.sealing_keys()
        )
    finally:
        await engine.dispose()
