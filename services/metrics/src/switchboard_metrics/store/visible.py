"""The rows a caller may see (`domain.visibility.Visible`) as a SQL condition on a table's
server and tool columns."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, false, or_, true

from switchboard_metrics.domain.visibility import Visible


def visible_rows(table: Table, visible: Visible) -> ColumnElement[bool]:
    if visible is None:
        return true()
    if not visible:
        return false()
    c = table.c
    return or_(
        *(
            and_(c.server_id == server_id, c.tool.in_(sorted(tools)))
            for server_id, tools in sorted(visible.items())
        )
    )
