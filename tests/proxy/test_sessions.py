from __future__ import annotations

import time

from switchboard_proxy.sessions import SessionStore


def test_a_session_is_found_only_by_its_owner_on_its_endpoint() -> None:
    store = SessionStore(idle_ttl_s=60)
    session = store.create(user_id="u1", server_id="s1", protocol_version="2025-11-25", client_info={})
    assert store.get(session.id, user_id="u1", server_id="s1") is session
    assert store.get(session.id, user_id="u2", server_id="s1") is None
    assert store.get(session.id, user_id="u1", server_id="") is None


def test_idle_sessions_expire() -> None:
    store = SessionStore(idle_ttl_s=60)
    session = store.create(user_id="u1", server_id="", protocol_version="2025-11-25", client_info={})
    session.last_seen = time.monotonic() - 61
    assert store.expire() == 1
    assert store.get(session.id, user_id="u1", server_id="") is None
    assert len(store) == 0


def test_session_ids_are_unguessable_and_distinct() -> None:
    store = SessionStore(idle_ttl_s=60)
    ids = {
        store.create(user_id="u", server_id="", protocol_version="x", client_info={}).id for _ in range(1000)
    }
    assert len(ids) == 1000
    assert all(len(i) >= 32 for i in ids)
