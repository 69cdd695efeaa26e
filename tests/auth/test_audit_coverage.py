"""Every route of the auth service that changes something leaves an audit record of the
action it names: the table below calls each one successfully, and a route missing from
it (a new one) fails the test until it is added, or excluded with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from switchboard_auth.store.audit import AuditFilter
from switchboard_core.principals import Principal
from switchboard_testing.audited_routes import check_route_table, mutating_routes

ADMIN_PASSWORD = "correct horse battery staple"  # as tests/auth/conftest.py bootstraps
READER = Principal("u-reader", "reader@example.com", True, (), "t-reader", 2**40)

# Routes that change something yet leave no success record, and why.
EXCLUDED = {
    ("POST", "/auth/login"): "signing in changes no configuration; refused logins are recorded "
    "(user.login, denied) by Accounts.login, see test_audit_refusals.py",
}


@dataclass
class Calls:
    """The administrator's client, and the path parameters the steps fill for those after them."""

    http: httpx.AsyncClient
    token: str
    params: dict[str, str] = field(default_factory=lambda: {"name": "auditor"})

    async def send(self, method: str, path: str, body: dict | None, keep: tuple[str, str] | None):
        headers = {"authorization": f"Bearer {self.token}"}
        response = await self.http.request(method, path.format(**self.params), json=body, headers=headers)
        if keep is not None and response.status_code < 300:
            param, field_name = keep
            self.params[param] = response.json()[field_name]
        return response


@dataclass(frozen=True)
class Step:
    method: str
    path: str  # the route's template, filled from `Calls.params`
    body: dict | None = None
    keep: tuple[str, str] | None = None  # (path parameter, field of the answer) for later steps


# In order: each step may use what the ones before made.
STEPS = [
    Step(
        "POST",
        "/auth/users",
        {"email": "dev@example.com", "password": "a long enough password"},
        ("user_id", "id"),
    ),
    Step("PATCH", "/auth/users/{user_id}", {"is_admin": True}),
    Step("POST", "/auth/tokens", {"name": "ci"}, ("token_id", "id")),
    Step("DELETE", "/auth/tokens/{token_id}"),
    Step("POST", "/auth/teams", {"name": "blue"}, ("team_id", "id")),
    Step("PATCH", "/auth/teams/{team_id}", {"name": "green"}),
    Step("POST", "/auth/teams/{team_id}/members", {"email": "dev@example.com", "role": "viewer"}),
    Step("PATCH", "/auth/teams/{team_id}/members/{user_id}", {"role": "developer"}),
    Step("DELETE", "/auth/teams/{team_id}/members/{user_id}"),
    Step("DELETE", "/auth/teams/{team_id}"),
    Step("POST", "/auth/roles", {"name": "auditor", "description": "reads", "permissions": ["metrics.read"]}),
    Step("PUT", "/auth/roles/{name}", {"description": "reads", "permissions": ["tools.read"]}),
    Step("DELETE", "/auth/roles/{name}"),
    # Published now, signing in an hour: the administrator's token stays good, and it may be retired.
    Step("POST", "/auth/keys/rotate", {"publish_delay_s": 3600}, ("kid", "kid")),
    Step("POST", "/auth/keys/{kid}/retire"),
    Step("DELETE", "/auth/users/{user_id}"),
    # Last: it ends the administrator's logins.
    Step("POST", "/auth/me/password", {"current_password": ADMIN_PASSWORD, "new_password": "x" * 24}),
]


async def test_every_mutating_route_is_called_by_the_table_or_excluded_with_a_reason(auth):
    routes = mutating_routes(auth.app)
    check_route_table(routes, [(step.method, step.path) for step in STEPS], EXCLUDED)


async def test_every_mutating_route_called_successfully_leaves_a_record_of_the_action_it_names(auth):
    routes = mutating_routes(auth.app)
    calls = Calls(auth.http, await auth.login())
    log = auth.service.opened.audit

    async def recorded() -> dict[str, tuple[str, str]]:
        records = await log.query(READER, AuditFilter(), limit=500, offset=0)
        return {r.id: (r.action, r.outcome) for r in records}

    for step in STEPS:
        before = await recorded()
        response = await calls.send(step.method, step.path, step.body, step.keep)
        assert response.status_code < 300, (step, response.text)
        new = [record for id_, record in (await recorded()).items() if id_ not in before]
        assert new == [(routes[step.method, step.path], "success")], step
