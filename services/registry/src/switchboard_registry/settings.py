"""Settings of the registry service (environment prefix `SWITCHBOARD_`)."""

from __future__ import annotations

from pydantic import Field
from switchboard_core.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/registry.db`.
    registry_database_url: str = ""
    # Deadline for one request to an upstream while registering or refreshing it.
    discovery_timeout_s: float = Field(default=10.0, gt=0)

    @property
    def database_url(self) -> str:
        return self.registry_database_url or self.sqlite_url("registry")
