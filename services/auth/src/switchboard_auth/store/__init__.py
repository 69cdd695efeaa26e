"""The auth service's own database: tables (`tables`) and the queries on each."""

from switchboard_auth.store.tables import metadata

__all__ = ["metadata"]
