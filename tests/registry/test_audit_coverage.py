"""Every route of the registry that changes something leaves an audit record of the action
it names: the table below calls each one successfully, and a route missing from it (a
new one) fails the test until it is added, or excluded with a reason. The records are
read from the outbox, where they wait (no auth service takes them here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from switchboard_core.http.app import create_app
from switchboard_registry import RegistryService
from switchboard_testing.audited_routes import check_route_table, mutating_routes

# Routes that change something yet leave no success record, and why (none today).
EXCLUDED: dict[tuple[str, str], str] = {}


def _first(kind: str) -> Callable[[dict], str]:
    return lambda detail: detail[kind][0]["id"]


@dataclass(frozen=True)
class Step:
    method: str
    path: str  # the route's template, filled from the parameters earlier steps kept
    body: dict | Callable[[dict[str, str]], dict] | None = None  # a function of the parameters kept
    # Path parameters for later steps, read from this step's answer.
    keep: dict[str, Callable[[dict], str]] = field(default_factory=dict)


# In order: each step may use what the ones before made.
STEPS = [
    Step(
        "POST",
        "/gateways",
        lambda params: {"name": "alpha", "url": params["alpha_url"]},
        keep={
            "gateway_id": lambda detail: detail["id"],
            "tool_id": _first("tools"),
            "resource_id": _first("resources"),
            "template_id": _first("resource_templates"),
            "prompt_id": _first("prompts"),
        },
    ),
    Step("PATCH", "/gateways/{gateway_id}", {"visibility": "public"}),  # its items follow
    Step("POST", "/gateways/{gateway_id}/refresh"),
    Step("POST", "/gateways/{gateway_id}/check"),
    Step("PATCH", "/tools/{tool_id}", {"visibility": "team"}),
    Step("PATCH", "/resources/{resource_id}", {"visibility": "team"}),
    Step("PATCH", "/resource-templates/{template_id}", {"visibility": "team"}),
    Step("PATCH", "/prompts/{prompt_id}", {"visibility": "team"}),
    Step(
        "POST", "/servers", {"name": "one", "tools": ["alpha__echo"]}, keep={"server_id": lambda s: s["id"]}
    ),
    Step("PATCH", "/servers/{server_id}", {"description": "d"}),
    Step("DELETE", "/servers/{server_id}"),
    Step("DELETE", "/gateways/{gateway_id}"),
]


def _routes(service: RegistryService) -> dict[tuple[str, str], str]:
    return mutating_routes(create_app(title="registry routes", routers=service.routers()))


async def test_every_mutating_route_is_called_by_the_table_or_excluded_with_a_reason(registry_service):
    routes = _routes(registry_service)
    check_route_table(routes, [(step.method, step.path) for step in STEPS], EXCLUDED)


async def test_every_mutating_route_called_successfully_leaves_a_record_of_the_action_it_names(
    registry_service, api, outbox, alpha
):
    routes = _routes(registry_service)
    params = {"alpha_url": alpha.url}
    for step in STEPS:
        before = {event.id for event in await outbox()}
        body = step.body(params) if callable(step.body) else step.body
        response = await api.request(step.method, step.path.format(**params), json=body)
        assert response.status_code < 300, (step, response.text)
        params.update({name: read(response.json()) for name, read in step.keep.items()})
        new = [(e.action, e.outcome) for e in await outbox() if e.id not in before]
        assert new == [(routes[step.method, step.path], "success")], step
