"""The routes of an app that change something, with the audit action each names, read
from the app's OpenAPI document (`x-audit-action`, see `switchboard_core.http.refusals`):
what the audit-coverage tests walk, so a new route without a record fails them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fastapi import FastAPI
from switchboard_core.http.refusals import AUDIT_ACTION, MUTATING


def mutating_routes(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, path template) -> the audit action it names ("" when it names none)."""
    return {
        (method.upper(), path): operation.get(AUDIT_ACTION, "")
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if method.upper() in MUTATING
    }


def check_route_table(
    routes: Mapping[tuple[str, str], str],
    covered: Iterable[tuple[str, str]],
    excluded: Iterable[tuple[str, str]],
) -> None:
    """Every mutating route is `covered` by a step of the table once or `excluded` (with
    its reason, where the table says it), and each names an audit action."""
    covered = list(covered)
    assert len(covered) == len(set(covered)), "a route is in the table twice"
    assert set(covered) | set(excluded) == set(routes), (
        "mutating routes without an audit step here: "
        f"{sorted(set(routes) - set(covered) - set(excluded))}; "
        f"steps for no route: {sorted(set(covered) - set(routes))}"
    )
    assert not [route for route, action in routes.items() if not action]
