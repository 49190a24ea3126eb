"""Every turn is written to SQL (SQLite by default, PostgreSQL by URL) for audits and retraining."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


@dataclass(frozen=True)
class TurnRecord:
    session_id: str
    user_text: str
    bot_text: str
    language: str
    intent: str | None
    confidence: float | None
    action: str
    details: dict[str, Any]


class ConversationLog(Protocol):
    def record(self, turn: TurnRecord) -> None: ...

    def turns(self, session_id: str) -> list[TurnRecord]: ...


class _Base(DeclarativeBase):
    pass


class _TurnRow(_Base):
    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)
    user_text: Mapped[str] = mapped_column(Text)
    bot_text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(128), nullable=True)
    confidence: Mapped[float | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class SqlConversationLog:
    """Conversation log on any SQLAlchemy URL; tables are created on first use."""

    def __init__(self, url: str) -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self._engine = create_engine(url, connect_args=connect_args)
        _Base.metadata.create_all(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def record(self, turn: TurnRecord) -> None:
        values = asdict(turn)
        # Round-trip through JSON so only plain data reaches the database.
        values["details"] = json.loads(json.dumps(turn.details, default=str))
        with self._sessions.begin() as db:
            db.add(_TurnRow(created_at=datetime.now(UTC), **values))

    def turns(self, session_id: str) -> list[TurnRecord]:
        names = [f.name for f in fields(TurnRecord)]
        with Session(self._engine) as db:
            rows = db.scalars(
                select(_TurnRow).where(_TurnRow.session_id == session_id).order_by(_TurnRow.id)
            )
            return [TurnRecord(**{name: getattr(row, name) for name in names}) for row in rows]

    def close(self) -> None:
        self._engine.dispose()
