"""Settings of the metrics service (`SWITCHBOARD_METRICS_*` on top of the shared ones)."""

from __future__ import annotations

from pydantic import Field
from switchboard_core.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/metrics.db`.
    metrics_database_url: str = ""
    # Invocation records older than this are deleted by the retention task.
    metrics_retention_days: int = Field(default=30, ge=1)

    @property
    def database_url(self) -> str:
        return self.metrics_database_url or self.sqlite_url("metrics")
