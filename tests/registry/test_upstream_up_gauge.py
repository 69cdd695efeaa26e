"""`switchboard_upstream_up`: each health round says which upstreams answered, and a
deleted gateway's series goes with it."""

from __future__ import annotations

from prometheus_client import REGISTRY
from switchboard_core.principals import Principal
from switchboard_registry.domain.registry import Registry

BY = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")


def _up(gateway_id: str, name: str) -> float | None:
    return REGISTRY.get_sample_value(
        "switchboard_upstream_up", {"upstream": gateway_id, "upstream_name": name}
    )


async def test_a_stopped_upstream_reads_down_from_the_next_check_and_up_once_it_answers_again(
    registry: Registry, alpha, restartable_upstream
):
    steady = (await registry.gateways.register("alpha", alpha.url, by=BY)).gateway
    flaky = (await registry.gateways.register("flaky", restartable_upstream.url, by=BY)).gateway

    await registry.health.check_all()
    assert _up(steady.id, "alpha") == 1.0
    assert _up(flaky.id, "flaky") == 1.0

    restartable_upstream.stop()
    await registry.health.check_all()  # one failure: still listed, but seen down already
    assert _up(flaky.id, "flaky") == 0.0
    assert _up(steady.id, "alpha") == 1.0

    restartable_upstream.start()
    await registry.health.check_all()
    assert _up(flaky.id, "flaky") == 1.0


async def test_a_deleted_gateway_leaves_no_series_behind(registry: Registry, alpha, restartable_upstream):
    steady = (await registry.gateways.register("alpha", alpha.url, by=BY)).gateway
    gone = (await registry.gateways.register("gone", restartable_upstream.url, by=BY)).gateway
    await registry.health.check_all()
    assert _up(gone.id, "gone") == 1.0

    await registry.gateways.delete(gone.id, by=BY)
    await registry.health.check_all()

    assert _up(gone.id, "gone") is None
    assert _up(steady.id, "alpha") == 1.0


async def test_a_replica_that_stops_checking_shows_no_stale_value(registry: Registry, alpha):
    steady = (await registry.gateways.register("alpha", alpha.url, by=BY)).gateway
    await registry.health.check_all()
    assert _up(steady.id, "alpha") == 1.0

    registry.health.forget_all()  # what the schedule does when this replica stops leading

    assert _up(steady.id, "alpha") is None
