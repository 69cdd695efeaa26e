"""The metrics service's own tables and the SQL that reads and writes them."""

from switchboard_metrics.store.invocations import InvocationStore
from switchboard_metrics.store.rollups import RollupStore

__all__ = ["InvocationStore", "RollupStore"]
