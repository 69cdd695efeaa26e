"""The OpenAPI document is the contract: schemathesis drives every REST operation of a
real embedded gateway, as a developer and as a viewer of a team that has a gateway and a
server, and every answer must be one the document declares, with the body it declares
(and never a 5xx). Cases are enumerated (schemathesis's coverage cases) or derived from the
test (`derandomize`), never drawn at random, and bounded: a run takes about two minutes on
two cores and fails the same way every time.

Requests are made with tokens of the two roles; the administrator only sets the scene. A
developer's destructive calls reach only what the generated ids name (made-up ones, never
the scene's), so the order of the operations does not matter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, BaseSchema, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.people import add_member, create_team, create_user, login
from switchboard_testing.upstream_process import UpstreamProcess

pytestmark = pytest.mark.e2e

ROLES = ("developer", "viewer")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]
# Repeated query parameters are sent too (that they are refused is pinned below).
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"generate-duplicate-query-parameters": True}}})
# Few examples per operation (more for a deeper run by hand: SWITCHBOARD_CONTRACT_EXAMPLES),
# derived from the test's source rather than drawn at random;
# no shrinking: the first faulty answer is reported as it came.
EXAMPLES = settings(
    max_examples=int(os.environ.get("SWITCHBOARD_CONTRACT_EXAMPLES", "6")),
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture(scope="module")
def contract_gateway() -> Iterator[GatewayProcess]:
    with start_gateway() as gateway:
        yield gateway


@pytest.fixture(scope="module")
def tokens(contract_gateway: GatewayProcess, fixture_upstream: UpstreamProcess) -> dict[str, str]:
    """A team with a developer and a viewer, and a public gateway and server to look at."""
    admin_token = contract_gateway.mint_token()
    with httpx.Client(
        base_url=contract_gateway.base_url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30
    ) as admin:
        team = create_team(admin, "contract")
        for role in ROLES:
            create_user(admin, f"{role}@example.com")
            add_member(admin, team, f"{role}@example.com", role)
        register(admin, "alpha", fixture_upstream.url, visibility="public")
        create_server(admin, "window", ["alpha__echo"], visibility="public")
        return {role: login(admin, f"{role}@example.com") for role in ROLES}


@pytest.fixture(scope="module")
def document(contract_gateway: GatewayProcess) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{contract_gateway.base_url}/openapi.json", config=CONFIG)


@pytest.fixture(scope="module")
def operations(document: BaseSchema) -> list[APIOperation]:
    return [result.ok() for result in document.get_all_operations()]


def _has_input(operation: APIOperation) -> bool:
    return bool(operation.definition.raw.get("parameters")) or "requestBody" in operation.definition.raw


def _faults(operations: list[APIOperation], token: str, mode: GenerationMode) -> list[str]:
    """Each operation's first faulty answer, with the request that got it."""
    headers = {"authorization": f"Bearer {token}"}
    faults = []
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _has_input(operation):
            continue  # nothing in it can be invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @EXAMPLES
        def answered_as_declared(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            answered_as_declared()
        except (Failure, FailureGroup) as fault:
            faults.append(f"{operation.label}: {fault}")
    return faults


@pytest.mark.parametrize("role", ROLES)
def test_every_rest_operation_answers_its_boundary_cases_as_declared(
    document: BaseSchema, operations: list[APIOperation], tokens: dict[str, str], role: str
) -> None:
    """schemathesis's coverage cases, enumerated rather than drawn: each bound of each
    parameter and field and one past it, missing and repeated parameters, methods the path
    lacks."""
    headers = {"authorization": f"Bearer {tokens[role]}"}
    faults, sent = [], 0
    for operation in operations:
        cases = document.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=document.config.generation_for(operation=operation),
        )
        for case in cases:
            sent += 1
            try:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
            except (Failure, FailureGroup) as fault:
                faults.append(f"{operation.label}: {fault}")
                break
    assert not faults, "\n\n".join(faults)
    assert sent > 1000  # about 2000: every operation has its cases


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_rest_operation_answers_only_what_its_document_declares(
    operations: list[APIOperation], tokens: dict[str, str], role: str, mode: GenerationMode
) -> None:
    assert len(operations) > 50  # every service's routers are in the one document
    faults = _faults(operations, tokens[role], mode)
    assert not faults, "\n\n".join(faults)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/servers", {"name": "zero", "bare_names": 0}),
        ("PATCH", "/servers/any", {"bare_names": "true"}),
        ("POST", "/auth/keys/rotate", {"publish_delay_s": False}),
        ("POST", "/auth/tokens", {"name": "ci", "expires_in_days": 1.5}),
        ("GET", "/metrics/tools?until=0.5", None),
        ("GET", "/auth/audit?until=0.5", None),
        ("GET", "/servers?limit=5&limit=500", None),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(
    contract_gateway: GatewayProcess, method: str, path: str, body: dict | None
) -> None:
    admin = {"authorization": f"Bearer {contract_gateway.mint_token()}"}
    response = httpx.request(method, contract_gateway.base_url + path, json=body, headers=admin, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] in ("body", "query")


def test_options_and_405_name_every_method_of_a_rest_path(contract_gateway: GatewayProcess) -> None:
    url = contract_gateway.base_url
    servers = httpx.options(f"{url}/servers")
    server = httpx.options(f"{url}/servers/any")
    refused = httpx.put(f"{url}/servers")
    assert (servers.status_code, servers.headers["allow"]) == (204, "GET, OPTIONS, POST")
    assert (server.status_code, server.headers["allow"]) == (204, "DELETE, GET, OPTIONS, PATCH")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, OPTIONS, POST")


def test_the_document_declares_the_bearer_scheme_on_every_route_needing_a_token(
    contract_gateway: GatewayProcess,
) -> None:
    document = httpx.get(f"{contract_gateway.base_url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    open_routes = {"/auth/login", "/auth/jwks.json", "/.well-known/oauth-authorization-server"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            needs_token = path not in open_routes
            assert ("security" in operation) is needs_token, f"{method} {path}"
            if needs_token:
                assert {"401", "403", "429"} <= set(operation["responses"]), f"{method} {path}"
