"""Group commit: one writer task stores every queued webhook in one transaction, then pushes.

A request's future resolves only after the commit and the push, so 200 still means stored.
A single writer also means concurrent webhooks never fight over SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mock_backend.batch import apply_batch
from mock_backend.db import Transactions
from mock_backend.hub import Hub
from mock_backend.parse import Item
from mock_backend.store import Event, Pending, allocate

log = logging.getLogger("mock_backend.writer")
T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[tuple[Any, list[Pending]]]]
MAX_BATCH = 512
# Loop turns with nothing new queued before a batch is closed: requests whose bytes have
# arrived get parsed and join it, instead of waiting a whole commit for the next one.
SETTLE_TURNS = 2
# When webhooks arrive closer together than this, a batch also waits up to this long for more:
# each transaction costs a fixed overhead (SQLAlchemy, commit) that a batch of two pays once.
LINGER = 0.002


@dataclass
class _Work:
    items: list[Item] | None = None
    job: Job | None = None
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Writer:
    def __init__(
        self, engine: AsyncEngine, hub: Hub, default_owner: str, transactions: Transactions
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.default_owner = default_owner
        self.transactions = transactions
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="mock-backend-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while not self._queue.empty():
            work = self._queue.get_nowait()
            if not work.done.done():
                work.done.set_exception(RuntimeError("server shutting down"))
        await self.transactions.close()

    async def store(self, items: list[Item]) -> None:
        """Store and push `items`; returns once both are done."""
        work = _Work(items=items)
        self._queue.put_nowait(work)
        await work.done

    async def run(self, job: Job) -> Any:
        """Run a write `job` in its own transaction; push its events; return its result."""
        work = _Work(job=job)
        self._queue.put_nowait(work)
        return await work.done

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            waited = loop.time()
            batch = [await self._queue.get()]
            start = loop.time()
            steady = start - waited < LINGER  # the next webhook was already on its way
            quiet = 0
            while len(batch) < MAX_BATCH and quiet < SETTLE_TURNS:
                if self._queue.empty():
                    quiet += 1
                    await asyncio.sleep(0)
                else:
                    batch.append(self._queue.get_nowait())
                    quiet = 0
            while steady and len(batch) < MAX_BATCH:
                left = start + LINGER - loop.time()
                if left <= 0:
                    break
                try:
                    async with asyncio.timeout(left):
                        batch.append(await self._queue.get())
                except TimeoutError:
                    break
            webhooks = [w for w in batch if w.items is not None]
            if webhooks:
                await self._store_webhooks(webhooks)
            for work in batch:
                if work.job is not None:
                    await self._commit(work, work.job)

    async def _store_webhooks(self, webhooks: list[_Work]) -> None:
        items = [item for w in webhooks for item in w.items or ()]

        def store(conn: Connection) -> list[Event]:
            return allocate(conn, apply_batch(conn, items, self.default_owner))

        try:
            async with self.hub.publishing():
                await self.hub.publish(await self.transactions.run(store))
        except Exception:
            if len(webhooks) == 1:
                log.exception("storing a webhook failed")
                _fail(webhooks[0], RuntimeError("storage failed"))
                return
            # One bad webhook must not sink its batch: retry each on its own.
            for work in webhooks:
                await self._store_webhooks([work])
            return
        for work in webhooks:
            _resolve(work, None)

    async def _commit(self, work: _Work, job: Job) -> None:
        try:
            result = await self._transaction(job)
        except Exception as exc:
            _fail(work, exc)
        else:
            _resolve(work, result)

    async def _transaction(self, job: Job) -> Any:
        async with self.hub.publishing():
            async with self.engine.begin() as conn:
                result, pending = await job(conn)
                stored = await conn.run_sync(allocate, pending)
            await self.hub.publish(stored)
        return result


def _resolve(work: _Work, result: Any) -> None:
    if not work.done.done():
        work.done.set_result(result)


def _fail(work: _Work, exc: BaseException) -> None:
    if not work.done.done():
        work.done.set_exception(exc)
