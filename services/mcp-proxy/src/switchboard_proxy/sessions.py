"""MCP sessions of the Streamable HTTP transport (in-process store; embedded mode).

A session belongs to the user who opened it: presenting its id with another user's
token finds nothing (404), exactly like an unknown id.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Session:
    id: str
    user_id: str
    server_id: str
    protocol_version: str
    client_info: dict = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)


class SessionStore:
    def __init__(self, *, idle_ttl_s: float, max_sessions: int = 100_000) -> None:
        self._idle_ttl_s = idle_ttl_s
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}

    def create(self, *, user_id: str, server_id: str, protocol_version: str, client_info: dict) -> Session:
        if len(self._sessions) >= self._max:
            self.expire()
        session = Session(secrets.token_urlsafe(24), user_id, server_id, protocol_version, client_info)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, *, user_id: str, server_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None or session.user_id != user_id or session.server_id != server_id:
            return None
        now = time.monotonic()
        if now - session.last_seen > self._idle_ttl_s:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def delete(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def expire(self) -> int:
        cutoff = time.monotonic() - self._idle_ttl_s
        stale = [sid for sid, s in self._sessions.items() if s.last_seen < cutoff]
        for sid in stale:
            del self._sessions[sid]
        return len(stale)

    def __len__(self) -> int:
        return len(self._sessions)
