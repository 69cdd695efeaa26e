"""Switchboard metrics service: invocation records, latency statistics, retention."""

from switchboard_metrics.service import MetricsService
from switchboard_metrics.settings import MetricsSettings

__all__ = ["MetricsService", "MetricsSettings"]
