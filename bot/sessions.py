"""Per-conversation state, behind a Protocol so an in-process store can give way to Redis."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Session:
    id: str
    language: str
    turns: int = 0
    handed_off: bool = False
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text), most recent last


class SessionStore(Protocol):
    def get_or_create(self, session_id: str | None, language: str) -> Session: ...

    def retrieve(self, session_id: str) -> Session | None: ...

    def save(self, session: Session) -> None: ...


class InMemorySessionStore:
    """Sessions in a dict guarded by a lock; for a single server process."""

    def __init__(self, max_history: int = 20) -> None:
        self.max_history = max_history
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get_or_create(self, session_id: str | None, language: str) -> Session:
        with self._lock:
            if session_id and session_id in self._sessions:
                return self._sessions[session_id]
            session = Session(id=session_id or uuid.uuid4().hex, language=language)
            self._sessions[session.id] = session
            return session

    def retrieve(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.get(session_id)

    def save(self, session: Session) -> None:
        del session.history[: -self.max_history]
        with self._lock:
            self._sessions[session.id] = session
