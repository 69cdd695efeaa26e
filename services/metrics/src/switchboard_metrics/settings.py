"""Settings of the metrics service (`SWITCHBOARD_METRICS_*` on top of the shared ones)."""

from __future__ import annotations

from pydantic import Field
from switchboard_core.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    # Empty means the embedded SQLite file `<data_dir>/metrics.db`.
    metrics_database_url: str = ""
    # Invocation records older than this are deleted by the retention task.
    metrics_retention_days: int = Field(default=30, ge=1)
    # Hourly rollups (calls, errors, latency histogram) older than this are deleted.
    metrics_rollup_retention_days: int = Field(default=365, ge=1)
    # How often the leading replica rolls up the hours that closed meanwhile.
    metrics_rollup_interval_s: float = Field(default=300.0, gt=0)

    @property
    def database_url(self) -> str:
        return self.metrics_database_url or self.sqlite_url("metrics")
