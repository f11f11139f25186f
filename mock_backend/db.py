"""Tables and the engine: a SQLite file (WAL) by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

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
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert

T = TypeVar("T")
log = logging.getLogger("mock_backend.db")
metadata = MetaData()
CHECKPOINT_EVERY = 32

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

# What the webhooks say about a contact (by phone): marketing opt-out, business-scoped id,
# address-book name, and the number it moved to (reference §5b).
contacts = Table(
    "contacts",
    metadata,
    Column("phone", String, primary_key=True),
    Column("user_id", String, nullable=True),
    Column("name", String, nullable=True),
    Column("marketing", String, nullable=True),
    Column("changed_to", String, nullable=True),
    Column("updated_at", String, nullable=False),
    Index("ix_contacts_user_id", "user_id"),
)

# Call events, once each: a retried webhook does not ring twice.
calls = Table(
    "calls",
    metadata,
    Column("call_id", String, nullable=False),
    Column("event", String, nullable=False),
    Column("phone", String, nullable=False),
    Column("created_at", String, nullable=False),
    PrimaryKeyConstraint("call_id", "event"),
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


def insert_ignore(engine: AsyncEngine | Engine, table: Table) -> Insert:
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

    _instrument(engine.sync_engine, is_sqlite, on_query)
    return engine


def _instrument(
    engine: Engine,
    is_sqlite: bool,
    on_query: Callable[[], None] | None,
    busy_timeout_ms: int = 10_000,
    autocheckpoint: int = 1000,
) -> None:
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: DBAPIConnection, _: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
            cursor.close()

    if on_query is not None:
        count = on_query

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_: object) -> None:
            count()


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


class Transactions:
    """Runs a synchronous function of a `Connection` in one write transaction.

    On a SQLite file it runs right on the event loop, on a plain pysqlite connection that never
    waits for a lock. aiosqlite would take three or four thread hops per statement (cursor,
    execute, fetch, close), and even one hop per transaction costs GIL hand-offs that each wait
    behind the busy loop (up to the 5 ms switch interval); in WAL mode with synchronous=NORMAL a
    commit does not fsync, so a batch is a few milliseconds of CPU the loop would spend anyway.
    If another connection holds the write lock, the transaction is rolled back and run again
    in a worker thread that waits for the lock, so the loop never blocks on it. Checkpoints,
    which do fsync, are moved off the loop too: that connection has auto-checkpoint off, and
    the worker thread checkpoints (PASSIVE, concurrent with writes) every `CHECKPOINT_EVERY`
    commits. Elsewhere (PostgreSQL, in-memory SQLite) it runs on the async engine, `run_sync`.
    """

    def __init__(self, engine: AsyncEngine, on_query: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._inline: Engine | None = None
        self._waiting: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        in_memory = url.database in (None, "", ":memory:") or "memory" in str(url.query)
        if url.get_backend_name() == "sqlite" and not in_memory:
            sync_url = url.set(drivername="sqlite+pysqlite")
            self._inline = create_engine(sync_url)
            _instrument(self._inline, True, on_query, busy_timeout_ms=0, autocheckpoint=0)
            self._waiting = create_engine(sync_url)
            _instrument(self._waiting, True, on_query)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="wasim-sqlite")
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """`fn(conn)` in a transaction, committed when it returns; `fn` may run twice."""
        if self._inline is None or self._waiting is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)
        loop = asyncio.get_running_loop()
        try:
            result = _transaction(self._inline, fn)
        except OperationalError as exc:
            if not _locked(exc):
                raise
            result = await loop.run_in_executor(self._thread, _transaction, self._waiting, fn)
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._commits = 0
            self._checkpoint = loop.run_in_executor(self._thread, _checkpoint, self._waiting)
        return result

    async def close(self) -> None:
        if self._inline is not None and self._waiting is not None and self._thread is not None:
            if self._checkpoint is not None:
                await self._checkpoint
            self._inline.dispose()
            await asyncio.get_running_loop().run_in_executor(self._thread, self._waiting.dispose)
            self._thread.shutdown()


def _transaction(engine: Engine, fn: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return fn(conn)


def _checkpoint(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:
        log.exception("WAL checkpoint failed")


def _locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, extended codes included."""
    return getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF in (5, 6)
