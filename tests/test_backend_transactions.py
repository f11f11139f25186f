"""`db.Transactions`: SQLite write transactions on the loop, and in a thread while locked."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from mock_backend.db import Transactions, create_tables, make_engine, users


async def test_transactions_wait_in_a_thread_while_sqlite_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await create_tables(engine)
    transactions = Transactions(engine)
    attempts: list[str] = []
    waiting = threading.Event()

    def add_user(conn: Connection) -> int:
        attempts.append(threading.current_thread().name)
        if len(attempts) == 2:
            waiting.set()
        conn.execute(insert(users).values(id="ana", last_event_id=0))
        return int(conn.scalar(select(func.count()).select_from(users)) or 0)

    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        running = asyncio.create_task(transactions.run(add_user))
        await asyncio.to_thread(waiting.wait, 10)
        holder.execute("COMMIT")
        assert await running == 1
    finally:
        holder.close()
        await transactions.close()
        await engine.dispose()
    assert attempts[0] == threading.main_thread().name
    assert attempts[1].startswith("wasim-sqlite")
