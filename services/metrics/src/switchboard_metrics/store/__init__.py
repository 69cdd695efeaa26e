"""The metrics service's own tables and the SQL that reads and writes them."""

from switchboard_metrics.store.invocations import InvocationStore

__all__ = ["InvocationStore"]
