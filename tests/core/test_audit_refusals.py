"""The bound on refused-attempt records: a few per actor and action each window, a cap on
all of them, and the count of those left out carried by the next record of their kind."""

from __future__ import annotations

from switchboard_core.audit import DENIED, AuditEvent
from switchboard_core.audit_refusals import Refusals, RefusalThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_actor_and_action_is_recorded_a_few_times_a_window_and_the_next_record_counts_the_rest():
    clock = Clock()
    throttle = RefusalThrottle(per_key=2, per_window=100, window_s=60, clock=clock)
    assert [throttle.admit(("u-1", "user.delete")) for _ in range(5)] == [0, 0, None, None, None]
    assert throttle.admit(("u-1", "user.update")) == 0  # another action: a bound of its own
    assert throttle.admit(("u-2", "user.delete")) == 0  # another actor too
    clock.now += 59
    assert throttle.admit(("u-1", "user.delete")) is None
    clock.now += 1
    assert throttle.admit(("u-1", "user.delete")) == 4  # the four left out since the last record
    assert throttle.admit(("u-1", "user.delete")) == 0


def test_all_refusals_of_a_window_together_are_capped_however_many_actors_there_are():
    clock = Clock()
    throttle = RefusalThrottle(per_key=5, per_window=3, window_s=60, max_keys=2, clock=clock)
    admitted = [throttle.admit((f"guess-{n}@example.com", "user.login")) for n in range(10)]
    assert admitted == [0, 0, 0] + [None] * 7
    clock.now += 60
    assert throttle.admit(("another@example.com", "user.login")) == 0


async def test_a_refusal_is_written_as_a_denied_record_naming_the_reason_permission_and_suppressed():
    written: list[AuditEvent] = []

    async def write(event: AuditEvent) -> None:
        written.append(event)

    clock = Clock()
    refusals = Refusals(
        write, service="registry", throttle=RefusalThrottle(per_key=1, window_s=60, clock=clock)
    )
    actor = _Actor()
    for _ in range(3):
        await refusals.refused(
            actor, "gateway.delete", "g-1", reason="not yours", permission="gateways.delete"
        )
    clock.now += 60
    await refusals.refused(actor, "gateway.delete", "g-1", reason="not yours", permission="gateways.delete")

    assert [(e.action, e.entity_type, e.entity_id, e.outcome, e.service) for e in written] == [
        ("gateway.delete", "gateway", "g-1", DENIED, "registry")
    ] * 2
    assert written[0].changes == {"reason": "not yours", "permission": "gateways.delete"}
    assert written[1].changes == {"reason": "not yours", "permission": "gateways.delete", "suppressed": 2}
    assert (written[0].actor_user_id, written[0].actor_email) == ("u-1", "dev@example.com")


class _Actor:
    user_id = "u-1"
    email = "dev@example.com"
    token_id = "t-1"
