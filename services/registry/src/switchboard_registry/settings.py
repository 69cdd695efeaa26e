"""Settings of the registry service (environment prefix `SWITCHBOARD_`)."""

from __future__ import annotations

from pydantic import Field
from switchboard_core.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/registry.db`.
    registry_database_url: str = ""
    # Deadline for one request to an upstream while registering or refreshing it.
    discovery_timeout_s: float = Field(default=10.0, gt=0)
    # Upstream health: every interval each gateway is pinged with this deadline; after
    # this many failures in a row its items leave the catalog until a check passes.
    health_interval_s: float = Field(default=10.0, gt=0)
    health_timeout_s: float = Field(default=3.0, gt=0)
    health_failures: int = Field(default=2, ge=1)
    # How many upstreams are pinged (or refreshed on their own announcement) at once.
    health_concurrency: int = Field(default=32, ge=1)

    # Upstreams' own announcements (`notifications/*/list_changed` on their event
    # stream) refresh their gateway: announcements within this window make one refresh.
    list_changed_debounce_s: float = Field(default=0.5, ge=0)
    # An upstream offering no event stream is asked for one again this often.
    event_stream_retry_s: float = Field(default=300.0, gt=0)

    @property
    def database_url(self) -> str:
        return self.registry_database_url or self.sqlite_url("registry")
