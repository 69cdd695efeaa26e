"""Rate limits: N requests per W seconds per token and per user, on a sliding window
(no burst of 2N across a window's end), refused with the seconds until there is
room again; across replicas, one budget shared through Redis with no round trip per
request, the previous window's total included."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import RateLimited
from switchboard_core.rate_limits import Rate, RateLimiter
from switchboard_core.settings import ServiceSettings


@dataclass(frozen=True)
class Caller:
    user_id: str
    token_id: str


class Clock:
    def __init__(self, now: float = 999_980.0) -> None:  # 20 s into a 60 s window
        self.now = now

    def __call__(self) -> float:
        return self.now


ALICE_A, ALICE_B, BOB = Caller("alice", "tok-a"), Caller("alice", "tok-b"), Caller("bob", "tok-c")


def _admitted(limiter: RateLimiter, caller: Caller, times: int) -> int:
    admitted = 0
    for _ in range(times):
        try:
            limiter.check(caller)
        except RateLimited:
            continue
        admitted += 1
    return admitted


def test_rates_read_as_requests_per_window_and_empty_means_none():
    assert Rate.parse("600/60s") == Rate(600, 60)
    assert Rate.parse("10/s") == Rate(10, 1)
    assert Rate.parse("100/2m") == Rate(100, 120)
    assert Rate.parse("5000/h") == Rate(5000, 3600)
    assert Rate.parse("") is None and Rate.parse("off") is None
    for bad in ("600", "0/60s", "ten/s", "5/0s", "5/60d"):
        with pytest.raises(ValueError):
            Rate.parse(bad)
    with pytest.raises(ValueError):
        ServiceSettings(rate_limit_per_user="lots")


def test_a_spent_limit_is_refused_with_the_seconds_until_there_is_room_again():
    clock = Clock()  # 20 s into a 60 s window
    limiter = RateLimiter(per_token=Rate(3, 60), clock=clock)
    assert _admitted(limiter, ALICE_A, 3) == 3
    clock.now += 0.5  # the 3 start sliding out when the window ends, 39.5 s from now
    with pytest.raises(RateLimited) as refused:
        limiter.check(ALICE_A)
    assert refused.value.retry_after_s == 40
    assert refused.value.data == {"retry_after": 40}

    clock.now += 40  # 0.5 s into the next window: the 3 weigh 2.975, room for one
    assert _admitted(limiter, ALICE_A, 4) == 1
    with pytest.raises(RateLimited) as refused:
        limiter.check(ALICE_A)
    assert refused.value.retry_after_s == 20  # the 3 weigh less than 2 from 20 s in
    clock.now += 20
    assert _admitted(limiter, ALICE_A, 4) == 1
    clock.now += 120  # two quiet windows: the whole limit again
    assert _admitted(limiter, ALICE_A, 4) == 3


def test_a_burst_across_a_windows_end_is_not_twice_the_limit():
    clock = Clock(1_000_019.5)  # half a second before a 60 s window ends
    limiter = RateLimiter(per_token=Rate(10, 60), clock=clock)
    assert _admitted(limiter, ALICE_A, 10) == 10
    clock.now += 1  # half a second into the next window: fixed windows would admit 10 more
    assert _admitted(limiter, ALICE_A, 10) == 1  # the 10 weigh 10 × (1 − 0.5/60) = 9.92
    clock.now += 29.5  # 30 s in: the 10 weigh 5, with the 1: room for 4
    assert _admitted(limiter, ALICE_A, 10) == 4


def test_the_per_user_limit_counts_every_token_of_the_user_and_no_one_else():
    limiter = RateLimiter(per_user=Rate(5, 60), clock=Clock())
    assert _admitted(limiter, ALICE_A, 3) == 3
    assert _admitted(limiter, ALICE_B, 3) == 2
    assert _admitted(limiter, BOB, 5) == 5


def test_each_token_has_its_own_limit_and_a_refusal_spends_nothing():
    limiter = RateLimiter(per_token=Rate(2, 60), per_user=Rate(3, 60), clock=Clock())
    assert _admitted(limiter, ALICE_A, 5) == 2
    # The refused requests of token a did not count against alice: b gets the third.
    assert _admitted(limiter, ALICE_B, 5) == 1


def test_no_limit_configured_counts_nothing():
    limiter = RateLimiter()
    assert not limiter.enabled
    assert _admitted(limiter, ALICE_A, 10_000) == 10_000


async def test_two_replicas_share_one_limit_through_redis_with_no_round_trip_per_request(replicas):
    clock = Clock()
    one, other = (RateLimiter(per_user=Rate(10, 60), redis=replicas.client(), clock=clock) for _ in range(2))
    before = COUNTERS.get("redis.commands")
    assert _admitted(one, ALICE_A, 6) == 6
    assert COUNTERS.get("redis.commands") == before  # deciding costs no round trip
    await one.sync()
    await other.sync()  # nothing counted there yet: no round trip
    assert COUNTERS.get("redis.commands") == before + 1

    assert _admitted(other, ALICE_B, 3) == 3
    await other.sync()  # learns of the 6 of the other replica
    assert _admitted(other, ALICE_B, 5) == 1
    await other.sync()
    with pytest.raises(RateLimited) as refused:
        other.check(ALICE_B)
    # 40 s to the window's end, where the 10 begin to slide out; room a second after it.
    assert refused.value.retry_after_s == 41


async def test_replicas_taking_turns_overshoot_the_shared_limit_by_no_more_than_one_sync_of_traffic(
    replicas,
):
    clock = Clock()
    one, other = (RateLimiter(per_user=Rate(10, 60), redis=replicas.client(), clock=clock) for _ in range(2))
    admitted = 0
    for _ in range(20):  # each admits one request per sync interval
        for limiter, caller in ((one, ALICE_A), (other, ALICE_B)):
            admitted += _admitted(limiter, caller, 1)
            await limiter.sync()
    assert 10 <= admitted <= 11
    for limiter, caller in ((one, ALICE_A), (other, ALICE_B)):
        assert _admitted(limiter, caller, 3) == 0


@pytest.mark.parametrize("pushed", ["before-the-end", "after-the-end", "after-a-check-in-the-next"])
async def test_a_replica_weighs_the_previous_window_another_replica_spent(replicas, pushed):
    clock = Clock(1_000_019.5)  # half a second before a 60 s window ends
    one, other = (RateLimiter(per_user=Rate(10, 60), redis=replicas.client(), clock=clock) for _ in range(2))
    assert _admitted(one, ALICE_A, 10) == 10
    if pushed == "before-the-end":
        await one.sync()
    clock.now += 1  # the next window
    if pushed == "after-a-check-in-the-next":
        one.check(ALICE_A)  # admitted (9.92 weigh): it rolls its count over, keeping the ended one to push
    await one.sync()
    assert _admitted(other, ALICE_B, 1) == 1  # decided before it heard: the lag allowed
    await other.sync()  # pushes its 1 and reads the previous window's 10
    assert _admitted(other, ALICE_B, 5) == 0


async def test_the_shared_count_expires_with_its_window(replicas):
    clock = Clock()
    limiter = RateLimiter(per_token=Rate(5, 60), redis=replicas.client(), clock=clock)
    limiter.check(ALICE_A)
    await limiter.sync()
    keys = [key async for key in replicas.client().scan_iter(match="switchboard:limits:*")]
    assert keys == [b"switchboard:limits:t60:tok-a:16666"]
    assert 0 < await replicas.client().pttl(keys[0]) <= 120_000


async def test_a_replica_that_cannot_reach_redis_limits_its_own_traffic_and_pushes_it_later(
    replicas, redis_server
):
    clock = Clock()
    one = RateLimiter(per_user=Rate(10, 60), redis=replicas.client(), clock=clock, sync_timeout_s=0.3)
    other = RateLimiter(per_user=Rate(10, 60), redis=replicas.client(), clock=clock)
    assert _admitted(one, ALICE_A, 4) == 4
    redis_server.freeze()
    try:
        await one.sync()  # fails within its deadline; the 4 are kept
    finally:
        redis_server.thaw()
    assert _admitted(one, ALICE_A, 10) == 6  # its own limit still holds
    await one.sync()
    assert _admitted(other, ALICE_B, 1) == 1
    await other.sync()
    assert _admitted(other, ALICE_B, 1) == 0  # the 10 reached Redis after all


async def test_the_background_push_shares_counts_within_its_interval(replicas, eventually):
    one, other = (
        RateLimiter(per_user=Rate(5, 3600), redis=replicas.client(), sync_interval_s=0.02) for _ in range(2)
    )
    one.start()
    other.start()
    try:
        assert _admitted(one, ALICE_A, 5) == 5
        other.check(ALICE_B)  # counted before it heard of the 5: the lag the design allows

        def other_refuses() -> bool:
            try:
                other.check(ALICE_B)
            except RateLimited:
                return True
            return False

        await eventually(other_refuses, within_s=2, what="the other replica refusing")
    finally:
        await one.close()
        await other.close()
