"""Leader hand-over in the running stack: the replica running a periodic job is
SIGKILLed, and the other replica takes the job over within the lease's TTL plus one
interval of the job, never running it while the first one still did.

Two replicas each of registry (health checks, lease `upstreams`) and metrics (hourly
rollups, lease `rollups`); the lease lasts 2 s (renewed every 2/3 s) and both jobs run
every second. Which replica leads is read from Redis: a lease's value names its holder
(`host:pid:...`). Each replica's rounds are read from its `/internal/counters` every
50 ms, so the rounds of two replicas can be seen not to overlap in time.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from switchboard_testing.admin_api import register
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

LEADER_TTL_S = 2.0
INTERVAL_S = 1.0
POLL_S = 0.05


@dataclass(frozen=True)
class Job:
    service: str
    lease: str
    counter: str


HEALTH_CHECKS = Job("registry", "upstreams", "registry.health_rounds")
ROLLUPS = Job("metrics", "rollups", "metrics.rollup_passes")


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {
        "proxy_replicas": 1,
        "service_replicas": {"registry": 2, "metrics": 2},
        # A killed replica comes back (as an orchestrator would restart it), as a standby.
        "restart_replicas": True,
        "env": {
            "SWITCHBOARD_LEADER_TTL_S": str(LEADER_TTL_S),
            "SWITCHBOARD_HEALTH_INTERVAL_S": str(INTERVAL_S),
            "SWITCHBOARD_HEALTH_TIMEOUT_S": "0.5",
            "SWITCHBOARD_METRICS_ROLLUP_INTERVAL_S": str(INTERVAL_S),
        },
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="doomed") as running:
        yield running


@pytest.fixture(scope="module")
def admin(stack: StackProcess) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def leases(stack: StackProcess) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.state["env"]["SWITCHBOARD_REDIS_URL"])
    yield client
    client.close()


class Rounds(threading.Thread):
    """Reads one job's round counter on every replica of its service, every POLL_S, and
    keeps when each replica's count went up."""

    def __init__(self, stack: StackProcess, job: Job) -> None:
        super().__init__(daemon=True)
        self._urls = dict(
            zip(replica_names(stack, job.service), stack.replica_urls(job.service), strict=True)
        )
        self._counter = job.counter
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}
        self._down: set[str] = set()
        # When a replica that stopped answering answered again (a restart).
        self.back_at: dict[str, float] = {}
        # (when, replica) for every count seen higher than the one before it.
        self._advances: list[tuple[float, str]] = []

    def run(self) -> None:
        with httpx.Client(timeout=1, trust_env=False) as http:
            while not self._finished.is_set():
                for name, url in self._urls.items():
                    self._sample(http, name, url)
                self._finished.wait(POLL_S)

    def _sample(self, http: httpx.Client, name: str, url: str) -> None:
        try:
            count = http.get(f"{url}/internal/counters").json()["counters"].get(self._counter, 0)
        except httpx.TransportError:
            count = None  # killed, or not back yet: a restarted replica counts from 0
        with self._lock:
            if count is None:
                self._last.pop(name, None)
                self._down.add(name)
            elif name in self._down:
                self._down.discard(name)
                self.back_at[name] = time.monotonic()
            elif count > self._last.get(name, 0):
                self._advances.append((time.monotonic(), name))
            if count is not None:
                self._last[name] = count

    def advances(self, name: str) -> list[float]:
        with self._lock:
            return [at for at, who in self._advances if who == name]

    def stop(self) -> None:
        self._finished.set()
        self.join()


def replica_names(stack: StackProcess, service: str) -> list[str]:
    return [f"{service}-{r['index']}" for r in stack.state["topology"]["replicas"][service]]


def pids(stack: StackProcess) -> dict[int, str]:
    """Each running process's name, as the stack last wrote them (restarts change pids)."""
    state = json.loads((stack.dir / "stack.json").read_text())
    return {p["pid"]: p["name"] for p in state["processes"]}


def lease_holder(stack: StackProcess, leases: redis.Redis, job: Job) -> str | None:
    """The replica holding the job's lease now, None when nobody does."""
    value = leases.get(f"switchboard:{job.service}:leader:{job.lease}")
    if value is None:
        return None
    return pids(stack).get(int(value.decode().split(":")[1]))


def wait_for(condition, *, within_s: float, what: str):
    deadline = time.monotonic() + within_s
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} not within {within_s}s"
        time.sleep(POLL_S)
    return result


@dataclass(frozen=True)
class HandOver:
    survivor: str
    # After the kill: the survivor's first round seen, the killed replica answering again.
    took_over_s: float
    restarted_s: float | None


def hand_over(stack: StackProcess, leases: redis.Redis, job: Job, *, after_kill=lambda: None) -> HandOver:
    """Kill the job's leader once it is seen running the job, and see the other replica
    take the job over. Asserts on the way that the job never ran on two at once."""
    leader = wait_for(lambda: lease_holder(stack, leases, job), within_s=30, what=f"a leader of {job.lease}")
    (survivor,) = [name for name in replica_names(stack, job.service) if name != leader]
    (leader_pid,) = [pid for pid, name in pids(stack).items() if name == leader]
    rounds = Rounds(stack, job)
    rounds.start()
    try:
        wait_for(lambda: len(rounds.advances(leader)) >= 2, within_s=10, what=f"{leader} running {job.lease}")
        assert rounds.advances(survivor) == [], f"{survivor} ran {job.lease} while {leader} led"

        killed_at = time.monotonic()
        os.kill(leader_pid, signal.SIGKILL)
        after_kill()

        wait_for(lambda: rounds.advances(survivor), within_s=3 * LEADER_TTL_S, what=f"{survivor} taking over")
        took_over_s = rounds.advances(survivor)[0] - killed_at
        # A few rounds more, with the killed replica restarted meanwhile (as a standby).
        wait_for(lambda: len(rounds.advances(survivor)) >= 3, within_s=10, what=f"{survivor}'s rounds")
    finally:
        rounds.stop()
    assert all(at < killed_at for at in rounds.advances(leader)), f"{leader} (or its restart) ran it again"
    assert all(at > killed_at for at in rounds.advances(survivor))
    assert lease_holder(stack, leases, job) == survivor
    back_at = rounds.back_at.get(leader)
    return HandOver(survivor, took_over_s, None if back_at is None else back_at - killed_at)


def test_health_checks_resume_on_the_other_registry_replica_when_the_leader_is_killed(
    stack: StackProcess, leases: redis.Redis, admin: httpx.Client, upstream: UpstreamProcess
) -> None:
    gateway = register(admin, "doomed", upstream.url)

    # The upstream goes down just after the leader: only the new leader can notice.
    handed = hand_over(stack, leases, HEALTH_CHECKS, after_kill=upstream.kill)

    assert handed.took_over_s <= LEADER_TTL_S + INTERVAL_S, handed
    # Two failed checks a second apart (the default threshold), each failing at once.
    wait_for(
        lambda: admin.get(f"/gateways/{gateway['id']}").json()["status"] == "unavailable",
        within_s=2 * INTERVAL_S + 2,
        what="the dead upstream marked unavailable",
    )
    print(f"\nhealth checks: {handed}")


def test_rollups_resume_on_the_other_metrics_replica_when_the_leader_is_killed(
    stack: StackProcess, leases: redis.Redis
) -> None:
    handed = hand_over(stack, leases, ROLLUPS)

    assert handed.took_over_s <= LEADER_TTL_S + INTERVAL_S, handed
    print(f"\nrollups: {handed}")
