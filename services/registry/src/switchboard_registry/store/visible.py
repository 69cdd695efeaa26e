"""What a caller may see, as a SQL condition on a table's owner, team and visibility columns."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, or_, true

from switchboard_registry.domain.access import Viewer


def visible_to(table: Table, viewer: Viewer) -> ColumnElement[bool]:
    """Public rows, and those of the viewer's teams not private to someone else (every row: admins)."""
    if viewer.everything:
        return true()
    c = table.c
    return or_(
        c.visibility == "public",
        and_(
            c.team_id.in_(sorted(viewer.teams)),
            or_(c.visibility != "private", c.owner_id == viewer.user_id),
        ),
    )
