"""Metrics show each caller only the records of tools and servers the catalog lets it see:
per tool, in total, per server and in the hourly rollups; a server it may not see is
unknown; administrators see every record.

The access index is the registry's answer as the metrics service keeps it (the registry
side, and the whole path, are tested in tests/registry and tests/e2e/test_access_matrix)."""

from __future__ import annotations

import pytest
from switchboard_core.errors import NotFound, PermissionDenied
from switchboard_core.policy import BUILTIN_ROLES, Membership, Target
from switchboard_core.principals import Principal
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.rollups import HOUR_MS, RollupReader
from switchboard_metrics.domain.stats import StatsReader
from switchboard_metrics.domain.visibility import AccessIndex, ServerTools, Visibility
from switchboard_metrics.store import InvocationStore, RollupStore

H0 = 1_699_999_200_000  # an hour's start
TEAM = "team-1"
PUBLIC = Target(team_id="team-0", owner_id="u-owner", visibility="public")
IN_TEAM = Target(team_id=TEAM, owner_id="u-owner", visibility="team")
PRIVATE = Target(team_id=TEAM, owner_id="u-owner", visibility="private")


def member(role: str, permissions: frozenset[str] | None = None) -> Principal:
    granted = BUILTIN_ROLES[role] if permissions is None else permissions
    return Principal(
        f"u-{role}",
        f"{role}@example.com",
        False,
        (TEAM,),
        "t",
        2**40,
        memberships=(Membership(TEAM, role, granted),),
    )


ADMIN = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40)
VIEWER = member("viewer")
OUTSIDER = Principal("u-out", "out@example.com", False, (), "t-out", 2**40)
# Sees servers and tools of the team, but may not read their metrics.
NO_METRICS = member("custom", frozenset({"servers.read", "tools.read"}))


class FixedIndex:
    """The registry's access index as it stands, counting how often it is asked for."""

    def __init__(self, servers: dict[str, ServerTools]) -> None:
        self.servers = servers
        self.asked = 0

    async def index(self) -> AccessIndex:
        self.asked += 1
        return AccessIndex(1, self.servers)


@pytest.fixture
def index() -> FixedIndex:
    return FixedIndex(
        {
            "shared": ServerTools(PUBLIC, {"open": PUBLIC, "teamwork": IN_TEAM, "secret": PRIVATE}),
            "team-server": ServerTools(IN_TEAM, {"open": PUBLIC}),
            "private-server": ServerTools(PRIVATE, {"open": PUBLIC}),
            "": ServerTools(None, {"gw__open": PUBLIC, "gw__secret": PRIVATE}),
        }
    )


@pytest.fixture
async def recorded(store: InvocationStore) -> None:
    calls = {
        ("shared", "open"): [1.0, 2.0],
        ("shared", "teamwork"): [3.0],
        ("shared", "secret"): [100.0, 200.0, 300.0],
        ("team-server", "open"): [4.0],
        ("private-server", "open"): [500.0],
        ("", "gw__open"): [5.0],
        ("", "gw__secret"): [600.0],
        # A server the catalog no longer holds.
        ("deleted", "open"): [700.0],
    }
    await store.insert_many(
        [
            Invocation(tool, server_id=server, duration_ms=d, started_at_ms=H0 + 1)
            for (server, tool), durations in calls.items()
            for d in durations
        ]
    )


def stats(store: InvocationStore, index: FixedIndex) -> StatsReader:
    return StatsReader(store, Visibility(index))


async def per_tool(reader: StatsReader, caller: Principal, **query) -> dict[str, int]:
    _, tools = await reader.per_tool(caller, since_ms=H0, until_ms=H0 + HOUR_MS, **query)
    return {t.tool: t.stats.calls for t in tools}


async def test_a_caller_sees_the_calls_of_what_it_may_see_and_nothing_of_the_rest(
    store: InvocationStore, index: FixedIndex, recorded: None
) -> None:
    reader = stats(store, index)

    assert await per_tool(reader, VIEWER) == {"open": 3, "teamwork": 1, "gw__open": 1}
    assert await per_tool(reader, OUTSIDER) == {"open": 2, "gw__open": 1}
    assert await per_tool(reader, NO_METRICS) == {"open": 2, "gw__open": 1}


async def test_totals_count_only_the_calls_the_caller_may_see(
    store: InvocationStore, index: FixedIndex, recorded: None
) -> None:
    _, summary = await stats(store, index).summary(OUTSIDER, since_ms=H0, until_ms=H0 + HOUR_MS)

    assert (summary.tools, summary.stats.calls) == (2, 3)
    # The hidden calls, of 100 ms and more, weigh on no figure.
    assert summary.stats.p99_ms == 5.0


async def test_administrators_see_every_call_without_the_index_being_asked_for(
    store: InvocationStore, index: FixedIndex, recorded: None
) -> None:
    calls = await per_tool(stats(store, index), ADMIN)

    assert calls == {"open": 5, "teamwork": 1, "secret": 3, "gw__open": 1, "gw__secret": 1}
    assert index.asked == 0


async def test_one_servers_calls_are_shown_to_who_may_see_the_server(
    store: InvocationStore, index: FixedIndex, recorded: None
) -> None:
    reader = stats(store, index)

    assert await per_tool(reader, VIEWER, server_id="team-server") == {"open": 1}
    assert await per_tool(reader, VIEWER, server_id="shared") == {"open": 2, "teamwork": 1}
    assert await per_tool(reader, ADMIN, server_id="deleted") == {"open": 1}


@pytest.mark.parametrize(
    ("caller", "server_id"),
    [
        (OUTSIDER, "team-server"),
        (VIEWER, "private-server"),
        (VIEWER, "deleted"),
        (VIEWER, "no-such-server"),
    ],
)
async def test_a_server_the_caller_may_not_see_is_unknown(
    store: InvocationStore, index: FixedIndex, caller: Principal, server_id: str
) -> None:
    with pytest.raises(NotFound, match=f"no server '{server_id}'"):
        await stats(store, index).per_tool(caller, server_id=server_id)


async def test_a_server_seen_without_the_right_to_read_its_metrics_is_refused_naming_it(
    store: InvocationStore, index: FixedIndex
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await stats(store, index).summary(NO_METRICS, server_id="team-server")

    assert refused.value.permission == "metrics.read"


@pytest.mark.parametrize("caller", [ADMIN, VIEWER], ids=["admin", "viewer"])
async def test_a_token_whose_scopes_leave_out_metrics_read_reads_no_metrics(
    store: InvocationStore, index: FixedIndex, caller: Principal
) -> None:
    scoped = Principal(
        caller.user_id,
        caller.email,
        caller.is_admin,
        caller.teams,
        "t-scoped",
        2**40,
        scopes=("tools.read",),
        memberships=caller.memberships,
    )

    with pytest.raises(PermissionDenied) as refused:
        await stats(store, index).per_tool(scoped)

    assert refused.value.data == {"scope": "metrics.read"}


async def test_rollups_hold_and_count_only_the_hours_of_what_the_caller_may_see(
    store: InvocationStore, index: FixedIndex, recorded: None
) -> None:
    rollups = RollupStore(store)
    await rollups.roll_up(H0, H0 + HOUR_MS)
    reader = RollupReader(rollups, Visibility(index))

    _, page = await reader.page(VIEWER, since_ms=H0, until_ms=H0, limit=100, offset=0)
    _, hidden = await reader.page(VIEWER, tool="secret", since_ms=H0, until_ms=H0, limit=100, offset=0)
    _, everything = await reader.page(ADMIN, since_ms=H0, until_ms=H0, limit=100, offset=0)

    assert sorted((r.server_id, r.tool, r.calls) for r in page.items) == [
        ("", "gw__open", 1),
        ("shared", "open", 2),
        ("shared", "teamwork", 1),
        ("team-server", "open", 1),
    ]
    assert page.total == 4
    assert (hidden.items, hidden.total) == ([], 0)
    assert everything.total == 8
    with pytest.raises(NotFound):
        await reader.page(OUTSIDER, server_id="private-server", limit=100, offset=0)
