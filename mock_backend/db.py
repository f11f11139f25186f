"""Tables and the engine: a SQLite file (WAL) by default, PostgreSQL when the URL says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    # Per-user event sequence: bumped in the same transaction that writes the events.
    Column("last_event_id", Integer, nullable=False, default=0),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String, nullable=False),
    Column("contact_phone", String, nullable=False),
    Column("contact_name", String, nullable=True),
    Column("unread_count", Integer, nullable=False, default=0),
    Column("last_message_id", Integer, nullable=True),
    Column("created_at", String, nullable=False),
    Column("updated_at", String, nullable=False),
    UniqueConstraint("owner", "contact_phone", name="uq_conversation_owner_phone"),
    Index("ix_conversations_phone", "contact_phone"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, nullable=False),
    Column("wamid", String, nullable=False),
    Column("direction", String, nullable=False),
    Column("from_phone", String, nullable=False),
    Column("type", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("timestamp", String, nullable=False),
    Column("status", String, nullable=False),
    Column("raw", Text, nullable=False),
    Column("created_at", String, nullable=False),
    UniqueConstraint("conversation_id", "wamid", name="uq_message_conversation_wamid"),
    Index("ix_messages_wamid", "wamid"),
)

events = Table(
    "events",
    metadata,
    Column("user_id", String, nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("kind", String, nullable=False),
    Column("payload", Text, nullable=False),
    PrimaryKeyConstraint("user_id", "event_id"),
)


def utcnow() -> str:
    """ISO 8601 in UTC with a fixed width, so text order is time order."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def insert_ignore(engine: AsyncEngine, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` in the engine's dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def make_engine(url: str, on_query: Callable[[], None] | None = None) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL, synchronous=NORMAL and a busy timeout."""
    try:
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        if url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {} if is_sqlite else {"pool_size": 10, "max_overflow": 20}
        engine = create_async_engine(url, **kwargs)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ValueError(f"unusable database URL: {exc}") from None
    if engine.dialect.name not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")

    if is_sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: DBAPIConnection, _: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    if on_query is not None:
        count = on_query

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(*_: object) -> None:
            count()

    return engine


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
