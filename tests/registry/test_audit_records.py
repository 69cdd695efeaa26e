"""Each admin change of the registry leaves one audit record, kept in the transaction of
the change and delivered to the auth service's log; while auth is down the records wait
in the registry's database and arrive once it is back. Refused attempts (403, 404) are
recorded as `denied`, and a health check asked for records what it found."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
from switchboard_auth import AuthService, AuthSettings
from switchboard_auth.store.audit import AuditFilter
from switchboard_core.audit import MAX_RECORD_BYTES, AuditEvent
from switchboard_core.counters import COUNTERS
from switchboard_core.grpc import build_server
from switchboard_core.grpc.server import MAX_MESSAGE_BYTES
from switchboard_core.http.app import create_app
from switchboard_core.principals import Principal
from switchboard_core.service import Runtime
from switchboard_registry import RegistryService, RegistrySettings
from switchboard_registry.store import audit_outbox
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.outbound import OUTBOUND_ALLOW
from switchboard_testing.ports import free_port

ADMIN = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")


class AdminOnly:
    async def authenticate(self, token: str) -> Principal:
        return ADMIN


@asynccontextmanager
async def _auth_on(
    port: int, data_dir: Path, *, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> AsyncIterator[AuthService]:
    settings = AuthSettings(
        data_dir=data_dir, bootstrap_admin_email="root@example.com", bootstrap_admin_password="x" * 20
    )
    service = AuthService(settings)
    server, _health = build_server(INTERNAL_TOKEN, max_message_bytes=max_message_bytes)
    service.add_to_grpc(server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await service.start(Runtime(settings))
    await server.start()
    try:
        yield service
    finally:
        await service.drain()
        await server.stop(None)
        await service.stop()


@asynccontextmanager
async def _registry(
    tmp_path: Path,
    database_url: str,
    auth_port: int,
    *,
    audit_record_max_bytes: int = MAX_RECORD_BYTES,
    internal_token: str = INTERNAL_TOKEN,
) -> AsyncIterator[RegistryService]:
    settings = RegistrySettings(
        data_dir=tmp_path,
        registry_database_url=database_url,
        discovery_timeout_s=5.0,
        outbound_allow=OUTBOUND_ALLOW.split(","),
        auth_addr=f"127.0.0.1:{auth_port}",
        grpc_timeout_s=1.0,
        audit_record_max_bytes=audit_record_max_bytes,
        internal_token=internal_token,
    )
    service = RegistryService(settings)
    runtime = Runtime(settings)
    await service.start(runtime)
    try:
        yield service
    finally:
        await service.drain()
        await service.stop()
        await runtime.channels.close()


@asynccontextmanager
async def _api(service: RegistryService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(title="registry under test", routers=service.routers())
    app.state.principals = AdminOnly()
    headers = {"authorization": "Bearer admin", "user-agent": "registry-audit-test"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registry.test", headers=headers
    ) as client:
        yield client


async def _until(condition: Callable[[], Awaitable[bool]], *, within_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(within_s):
            while not await condition():  # noqa: ASYNC110 - a database has no event to wait on
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what} not within {within_s}s") from None


async def _records(auth: AuthService, **filters) -> list:
    return await auth.opened.audit.query(ADMIN, AuditFilter(**filters), limit=100, offset=0)


async def test_every_registry_admin_change_reaches_the_audit_log_once(tmp_path, database_url, alpha):
    port = free_port()
    async with (
        _auth_on(port, tmp_path / "auth") as auth,
        _registry(tmp_path, database_url, port) as registry,
        _api(registry) as api,
    ):
        url = f"{alpha.url}?api_key=sk-very-secret"
        gateway = await api.post("/gateways", json={"name": "alpha", "url": url})
        assert gateway.status_code == 201, gateway.text
        gateway_id = gateway.json()["id"]
        assert (await api.post(f"/gateways/{gateway_id}/refresh")).status_code == 200
        server = await api.post("/servers", json={"name": "one", "tools": ["alpha__echo"]})
        assert server.status_code == 201, server.text
        server_id = server.json()["id"]
        patched = await api.patch(f"/servers/{server_id}", json={"description": "d", "tools": ["alpha__add"]})
        assert patched.status_code == 200, patched.text
        assert (await api.delete(f"/servers/{server_id}")).status_code == 204
        assert (await api.delete(f"/gateways/{gateway_id}")).status_code == 204
        refused = await api.post("/servers", json={"name": "two", "tools": ["nowhere__nothing"]})
        assert refused.status_code == 400  # nothing changed: nothing recorded

        async def all_arrived() -> bool:
            return (
                len(await _records(auth, entity_type="server")) == 3 and await registry._outbox.waiting() == 0
            )

        await _until(all_arrived, within_s=10, what="the six records in the audit log")
        records = list(reversed(await _records(auth)))
        assert [(r.action, r.entity_type, r.entity_id) for r in records] == [
            ("gateway.create", "gateway", gateway_id),
            ("gateway.refresh", "gateway", gateway_id),
            ("server.create", "server", server_id),
            ("server.update", "server", server_id),
            ("server.delete", "server", server_id),
            ("gateway.delete", "gateway", gateway_id),
        ]
        assert records[0].changes == {
            "name": "alpha",
            "url": alpha.url,
            "team_id": "team-admin",
            "visibility": "team",
        }  # no query: no api_key
        assert records[1].changes == {"catalog_changed": False}
        assert records[2].changes == {
            "name": "one",
            "description": "",
            "tools": ["alpha__echo"],
            "resources": [],
            "prompts": [],
            "gateways": [],
            "team_id": "team-admin",
            "visibility": "team",
        }
        assert records[3].changes == {"description": "d", "tools": ["alpha__add"]}
        for record in records:
            assert (record.service, record.outcome) == ("registry", "success")
            assert (record.actor_user_id, record.actor_email, record.actor_token_id) == (
                "u-admin",
                "admin@example.com",
                "t-admin",
            )
            assert (record.client_ip, record.user_agent) == ("127.0.0.1", "registry-audit-test")
        assert b"sk-very-secret" not in orjson.dumps([r.changes for r in records])


async def test_records_wait_in_the_registry_while_auth_is_down_and_arrive_when_it_is_back(
    tmp_path, database_url, alpha
):
    port = free_port()
    async with _registry(tmp_path, database_url, port) as registry, _api(registry) as api:
        gateway = await api.post("/gateways", json={"name": "alpha", "url": alpha.url})
        assert gateway.status_code == 201, gateway.text  # the change does not wait on auth
        assert await registry._outbox.waiting() == 1

        async with _auth_on(port, tmp_path / "auth") as auth:

            async def arrived() -> bool:
                return bool(await _records(auth, action="gateway.create"))

            await _until(arrived, within_s=15, what="the waiting record in the audit log")
            await _until(lambda: _emptied(registry), within_s=5, what="the outbox emptied after delivery")
            [record] = await _records(auth)
            assert record.entity_id == gateway.json()["id"]


async def test_a_record_auth_refuses_is_set_aside_and_holds_back_none_behind_it(
    tmp_path, database_url, alpha
):
    port = free_port()
    async with _registry(tmp_path, database_url, port) as registry, _api(registry) as api:
        # While auth is down, one batch forms: a good record, one auth will never take, a good one.
        gateway = await api.post("/gateways", json={"name": "alpha", "url": alpha.url})
        assert gateway.status_code == 201, gateway.text
        poison = AuditEvent(
            action="", entity_type="gateway", entity_id="g", actor_user_id="u", actor_email="e@x",
            actor_token_id="t", at_ms=int(time.time() * 1000), id=str(uuid.uuid4()),
        )  # fmt: skip
        await registry._outbox.keep(poison)
        assert (await api.post(f"/gateways/{gateway.json()['id']}/refresh")).status_code == 200
        refused_before = COUNTERS.get("audit.outbox.refused")

        async with _auth_on(port, tmp_path / "auth") as auth:
            await _until(lambda: _emptied(registry), within_s=15, what="the good records delivered")
            assert [r.action for r in reversed(await _records(auth))] == ["gateway.create", "gateway.refresh"]
            [(set_aside_id, why)] = await registry._outbox.set_aside()
            assert set_aside_id == poison.id
            assert "needs an id, an action" in why
            assert COUNTERS.get("audit.outbox.refused") == refused_before + 1
            # Set aside stays set aside: later changes are delivered past it, it is never resent.
            again = await api.post("/servers", json={"name": "later", "tools": ["alpha__echo"]})
            assert again.status_code == 201, again.text
            await _until(lambda: _emptied(registry), within_s=10, what="a later record delivered")
            assert [r.action for r in await _records(auth, entity_type="server")] == ["server.create"]
            assert COUNTERS.get("audit.outbox.refused") == refused_before + 1


async def test_a_change_too_large_for_a_record_is_audited_cut_down_with_its_size(tmp_path, database_url):
    port = free_port()
    async with (
        _auth_on(port, tmp_path / "auth") as auth,
        _registry(tmp_path, database_url, port, audit_record_max_bytes=1024) as registry,
        _api(registry) as api,
    ):
        description = "a long description " * 200
        server = await api.post("/servers", json={"name": "wordy", "description": description})
        assert server.status_code == 201, server.text

        async def arrived() -> bool:
            return bool(await _records(auth, action="server.create"))

        await _until(arrived, within_s=10, what="the record of the server")
        [record] = await _records(auth, action="server.create")
        assert record.entity_id == server.json()["id"]
        assert record.changes["truncated"] is True
        assert record.changes["size"] == len(orjson.dumps(_server_fields("wordy", description)))
        assert record.changes["name"] == "wordy"
        assert description.startswith(record.changes["description"].removesuffix("…"))
        assert len(orjson.dumps(record.changes)) <= 1024


def _server_fields(name: str, description: str) -> dict:
    # What `server.create` records of a server given only a name and a description.
    return {
        "name": name,
        "description": description,
        "tools": [],
        "resources": [],
        "prompts": [],
        "gateways": [],
        "team_id": "team-admin",
        "visibility": "team",
    }


async def test_a_record_kept_before_records_were_bounded_is_delivered_cut_down(tmp_path, database_url):
    port = free_port()
    async with _registry(tmp_path, database_url, port, audit_record_max_bytes=1024) as registry:
        # As an outbox row written by a registry without the bound: 200 KB of changes.
        huge = AuditEvent.of(
            ADMIN, "server.update", "server", "s-1", {"description": "x" * 200_000}, service="registry"
        )
        async with registry._outbox._sessions.begin() as s:
            await audit_outbox.add(s, huge)
        registry._outbox.wake()

        async with _auth_on(port, tmp_path / "auth") as auth:
            await _until(lambda: _emptied(registry), within_s=15, what="the old record delivered")
            [record] = await _records(auth, action="server.update")
            assert record.id == huge.id
            assert (record.changes["truncated"], record.changes["size"]) == (
                True,
                200_000 + len('{"description":""}'),
            )
            assert await registry._outbox.set_aside() == []


async def test_a_record_auth_can_never_receive_is_set_aside_and_later_changes_are_still_audited(
    tmp_path, database_url, alpha
):
    port = free_port()
    # Auth takes messages of 256 KiB; the registry keeps records of up to 1 MiB: one of
    # 300 KB is refused as too large (RESOURCE_EXHAUSTED) however often it is sent.
    async with (
        _registry(tmp_path, database_url, port, audit_record_max_bytes=1024 * 1024) as registry,
        _api(registry) as api,
    ):
        gateway = await api.post("/gateways", json={"name": "alpha", "url": alpha.url})
        assert gateway.status_code == 201, gateway.text
        poison = AuditEvent.of(
            ADMIN, "server.update", "server", "s-1", {"description": "x" * 300_000}, service="registry"
        )
        await registry._outbox.keep(poison)
        assert (await api.post(f"/gateways/{gateway.json()['id']}/refresh")).status_code == 200
        refused_before = COUNTERS.get("audit.outbox.refused")

        async with _auth_on(port, tmp_path / "auth", max_message_bytes=256 * 1024) as auth:
            await _until(lambda: _emptied(registry), within_s=15, what="the records around it delivered")
            assert [r.action for r in reversed(await _records(auth))] == ["gateway.create", "gateway.refresh"]
            [(set_aside_id, why)] = await registry._outbox.set_aside()
            assert set_aside_id == poison.id
            assert "RESOURCE_EXHAUSTED" in why
            assert COUNTERS.get("audit.outbox.refused") == refused_before + 1

            server = await api.post("/servers", json={"name": "later", "tools": ["alpha__echo"]})
            assert server.status_code == 201, server.text
            deleted = await api.delete(f"/servers/{server.json()['id']}")
            assert deleted.status_code == 204, deleted.text
            await _until(lambda: _emptied(registry), within_s=10, what="the later records delivered")
            assert [r.action for r in reversed(await _records(auth))] == [
                "gateway.create",
                "gateway.refresh",
                "server.create",
                "server.delete",
            ]
            assert [id_ for id_, _ in await registry._outbox.set_aside()] == [poison.id]


async def test_records_refused_for_a_wrong_internal_token_wait_and_are_never_set_aside(
    tmp_path, database_url, alpha, caplog
):
    port = free_port()
    async with _auth_on(port, tmp_path / "auth") as auth:
        # The registry sends the wrong internal token: UNAUTHENTICATED, every record alike.
        wrong = "a-token-this-deployment-does-not-share-at-all"
        async with (
            _registry(tmp_path, database_url, port, internal_token=wrong) as registry,
            _api(registry) as api,
        ):
            gateway = await api.post("/gateways", json={"name": "alpha", "url": alpha.url})
            assert gateway.status_code == 201, gateway.text

            async def refused_once() -> bool:
                return any("wait to reach the auth service" in r.getMessage() for r in caplog.records)

            await _until(refused_once, within_s=10, what="a delivery refused for the token")
            assert await registry._outbox.waiting() == 1
            assert await registry._outbox.set_aside() == []

        # Once the token is right (the registry restarted), the waiting record arrives.
        async with _registry(tmp_path, database_url, port) as registry:
            await _until(lambda: _emptied(registry), within_s=15, what="the waiting record delivered")
            [record] = await _records(auth)
            assert (record.action, record.entity_id) == ("gateway.create", gateway.json()["id"])
            assert await registry._outbox.set_aside() == []


async def _emptied(registry: RegistryService) -> bool:
    return await registry._outbox.waiting() == 0


USER = {"authorization": "Bearer user-token"}  # tests/registry/conftest.py: not in the admin's team


async def test_refused_registry_changes_are_recorded_as_denied_with_who_what_and_why(api, outbox, alpha):
    registered = await api.post("/gateways", json={"name": "alpha", "url": alpha.url})
    gateway_id = registered.json()["id"]
    unseen = [
        await api.delete(f"/gateways/{gateway_id}", headers=USER),
        await api.post(f"/gateways/{gateway_id}/check", headers=USER),
        await api.patch("/servers/nope", json={"description": "d"}, headers=USER),
    ]
    assert (await api.patch(f"/gateways/{gateway_id}", json={"visibility": "public"})).status_code == 200
    refused = [
        await api.delete(f"/gateways/{gateway_id}", headers=USER),
        await api.post(
            "/gateways", json={"name": "b", "url": alpha.url, "team_id": "team-admin"}, headers=USER
        ),
    ]
    assert [r.status_code for r in unseen + refused] == [404, 404, 404, 403, 403]
    # Not recorded: a refused read, bad input.
    assert (await api.get("/gateways/nope", headers=USER)).status_code == 404
    assert (
        await api.post("/servers", json={"name": "x", "tools": ["no__such"]}, headers=USER)
    ).status_code == 400

    denied = [e for e in await outbox() if e.outcome == "denied"]
    assert [(e.action, e.entity_type, e.entity_id, e.changes) for e in denied] == [
        ("gateway.delete", "gateway", gateway_id, {"reason": f"no gateway {gateway_id!r}"}),
        ("gateway.check", "gateway", gateway_id, {"reason": f"no gateway {gateway_id!r}"}),
        ("server.update", "server", "nope", {"reason": "no server 'nope'"}),
        (
            "gateway.delete",
            "gateway",
            gateway_id,
            {"reason": "not a member of the owning team", "permission": "gateways.delete"},
        ),
        (
            "gateway.create",
            "gateway",
            "",
            {"reason": "not a member of the owning team", "permission": "gateways.create"},
        ),
    ]
    for event in denied:
        assert (event.actor_user_id, event.actor_email, event.actor_token_id) == (
            "u-user",
            "user@example.com",
            "t-user",
        )
        assert (event.service, event.client_ip) == ("registry", "127.0.0.1")


async def test_a_health_check_asked_for_is_recorded_with_what_it_found(api, outbox, restartable_upstream):
    registered = await api.post("/gateways", json={"name": "flaky", "url": restartable_upstream.url})
    gateway_id = registered.json()["id"]
    restartable_upstream.stop()
    assert (await api.post(f"/gateways/{gateway_id}/check")).json()["status"] == "unavailable"
    restartable_upstream.start()
    assert (await api.post(f"/gateways/{gateway_id}/check")).json()["status"] == "available"

    checks = [e for e in await outbox() if e.action == "gateway.check"]
    assert [(e.entity_id, e.changes["status"], e.actor_user_id) for e in checks] == [
        (gateway_id, ["available", "unavailable"], "u-admin"),
        (gateway_id, ["unavailable", "available"], "u-admin"),
    ]
    assert restartable_upstream.url in checks[0].changes["error"]
    assert "error" not in checks[1].changes
    # Recovering lists the upstream again: the registry's own doing, not recorded as a refresh.
    assert [e.action for e in await outbox()] == ["gateway.create", "gateway.check", "gateway.check"]
