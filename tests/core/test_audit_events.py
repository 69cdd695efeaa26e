"""An audit event as a service makes it holds no secret: the sender's outbox keeps it
at rest until it is delivered, so it is redacted there too, not only in the log."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_core.audit import REDACTED, AuditEvent


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
