"""The registry's own tables and the queries over them (SQLAlchemy Core, async).

Every function takes the caller's `AsyncSession`; the caller owns the transaction.
"""

from switchboard_registry.store.tables import metadata

__all__ = ["metadata"]
