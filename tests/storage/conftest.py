"""Fixtures for the storage tests: the services' migration sets."""

from __future__ import annotations

import pytest
from switchboard_auth.migrations import MIGRATIONS as AUTH
from switchboard_core.migrations import MigrationSet
from switchboard_metrics.migrations import MIGRATIONS as METRICS
from switchboard_registry.migrations import MIGRATIONS as REGISTRY

BY_SERVICE = {"auth": AUTH, "registry": REGISTRY, "metrics": METRICS}


@pytest.fixture(params=sorted(BY_SERVICE))
def migrations(request: pytest.FixtureRequest) -> MigrationSet:
    """Each service's migrations in turn."""
    return BY_SERVICE[request.param]


@pytest.fixture
def all_migrations() -> list[MigrationSet]:
    return list(BY_SERVICE.values())
