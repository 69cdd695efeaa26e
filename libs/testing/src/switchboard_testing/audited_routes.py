"""The routes of an app that change something, with the audit action each names, read
from the app's OpenAPI document (`x-audit-action`, see `switchboard_core.http.refusals`):
what the audit-coverage tests walk, so a new route without a record fails them."""

from __future__ import annotations

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
