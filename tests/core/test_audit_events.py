"""An audit event as a service makes it holds no secret: the sender's outbox keeps it
at rest until it is delivered, so it is redacted there too, not only in the log. And it
is bounded: whatever a change held, its record fits, cut down and saying so."""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson
from switchboard_core.audit import REDACTED, AuditEvent, bounded


@dataclass
class _Admin:
    user_id: str = "u-1"
    email: str = "admin@example.com"
    token_id: str = "t-1"


def test_a_made_event_is_redacted_before_any_outbox_stores_it() -> None:
    changes = {"name": "alpha", "auth": {"type": "bearer", "token": "sk-live-1"}, "client_secret": "cs"}
    event = AuditEvent.of(_Admin(), "gateway.auth", "gateway", "g-1", changes, service="registry")
    assert event.changes == {
        "name": "alpha",
        "auth": {"type": "bearer", "token": REDACTED},
        "client_secret": REDACTED,
    }
    assert "sk-live-1" not in event.to_proto().SerializeToString().decode("latin-1")


def _event(changes: dict, **fields) -> AuditEvent:
    return replace(
        AuditEvent.of(_Admin(), "server.create", "server", "s-1", changes, service="registry"), **fields
    )


def test_an_event_within_the_bound_is_kept_as_made() -> None:
    event = _event({"name": "one", "tools": ["a__b"] * 10})
    assert bounded(event, 1024) is event


def test_an_event_past_the_bound_keeps_what_fits_and_says_how_large_it_was() -> None:
    changes = {"name": "wordy", "description": "word " * 10_000, "tools": [f"t{i}" for i in range(5_000)]}
    kept = bounded(_event(changes), 2048).changes
    assert len(orjson.dumps(kept)) <= 2048
    assert (kept["truncated"], kept["size"]) == (True, len(orjson.dumps(changes)))
    assert kept["name"] == "wordy"
    assert kept["description"].endswith("…") and changes["description"].startswith(kept["description"][:-1])
    assert kept["tools"] == changes["tools"][: len(kept["tools"])] and kept["tools"]


def test_changes_that_cannot_be_shortened_to_fit_keep_only_their_field_names() -> None:
    changes = {"grid": [[[0] * 100] * 100] * 100, "name": "x"}  # 16 x 16 x 16 numbers still overflow
    kept = bounded(_event(changes), 1024).changes
    assert kept == {"truncated": True, "size": len(orjson.dumps(changes)), "fields": ["grid", "name"]}


def test_every_other_field_of_an_event_is_bounded_too() -> None:
    event = bounded(_event({}, entity_id="e" * 5_000, actor_email="m" * 5_000, user_agent="u" * 5_000))
    assert (len(event.entity_id), len(event.actor_email), len(event.user_agent)) == (500, 500, 500)
