"""What every push listener shares: the item queue, event-id bookkeeping, reconnect with backoff.

A subclass opens one connection (`_open`), reads it until it drops (`_pump`) and closes it
(`_drop`); this class turns that into a listener that reconnects by itself and resumes from the
highest event id it saw, dropping replayed ids it already had (counted as duplicates). A
`reset` event (the server does not know that id) makes it take the server's latest id instead.
"""

from __future__ import annotations

import abc
import asyncio
import random
from typing import Any

from wasim import defaults
from wasim.errors import WasimError
from wasim.tasks import cancel
from wasim.transports.base import Listener, Received, TransportStats
from wasim.transports.config import ListenerConfig


def describe(exc: BaseException) -> str:
    """A short reason for an exception, for state changes and error counts."""
    if isinstance(exc, WasimError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


class PushListener(Listener):
    """A listener over one long-lived connection that the server pushes events on."""

    transport = "push"

    def __init__(self, config: ListenerConfig) -> None:
        super().__init__(config.user)
        self.config = config
        self.stats = TransportStats(last_event_id=config.last_event_id)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wanted = frozenset(config.events)  # empty: every event

    @abc.abstractmethod
    async def _open(self) -> None:
        """Open one authenticated connection; raise AuthError, TargetError or ProtocolError."""

    @abc.abstractmethod
    async def _pump(self) -> None:
        """Read frames until the connection ends; call `_deliver` for each event."""

    @abc.abstractmethod
    async def _drop(self) -> None:
        """Close the current connection, if any; must not raise."""

    async def _release(self) -> None:
        """Free what outlives one connection (a private HTTP client); called once at the end."""

    def resume_from(self) -> int | None:
        return self.stats.last_event_id if self.config.resume else None

    async def connect(self) -> None:
        self._state("connecting")
        try:
            await self._open()
        except BaseException:
            await self._drop()
            await self._release()
            raise
        self._state("connected")
        self._task = asyncio.create_task(self._run(), name=f"{self.transport}:{self.user}")

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        await self._drop()
        await cancel(self._task)
        await self._release()
        self._state("closed")
        self._end()

    def _deliver(self, event: str, data: Any, received_at: float, event_id: Any = None) -> None:
        if event == defaults.EVENT_RESET:
            self._reset(data)
            return
        if not isinstance(data, dict):
            data = {"value": data}
        if event_id is None:
            event_id = data.get("event_id")
        if isinstance(event_id, str) and event_id.isdigit():
            event_id = int(event_id)
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            last = self.stats.last_event_id
            if last is not None and event_id <= last:
                self.stats.duplicates += 1
                return
            if last is not None and event_id > last + 1:
                self.stats.gaps += 1
                self.stats.missed += event_id - last - 1
            self.stats.last_event_id = event_id
        else:
            event_id = None
        if self._wanted and event not in self._wanted:
            return
        self.stats.events += 1
        self._queue.put_nowait(
            Received(self.transport, self.user, event, data, received_at, event_id)
        )

    def _reset(self, data: Any) -> None:
        """The server has no record of our last event id (a database reset, say): reload, that
        is, take its latest id as ours, so what follows is not dropped as already seen."""
        self.stats.resets += 1
        last = data.get("last_event_id") if isinstance(data, dict) else None
        self.stats.last_event_id = last if isinstance(last, int) else None

    async def _run(self) -> None:
        while True:
            try:
                await self._pump()
                reason = "closed by the server"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  any failure of the socket means a drop
                reason = describe(exc)
            await self._drop()
            if self._closing:
                return
            if not self.config.reconnect:
                self._state("failed", reason)
                self._end()
                return
            await self._reconnect(reason)

    async def _reconnect(self, reason: str) -> None:
        self.stats.reconnects += 1
        self._state("reconnecting", reason)
        delay = self.config.backoff_initial
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.config.backoff_max)
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  keep trying until closed
                self.stats.error(describe(exc))
                await self._drop()
                continue
            self._state("connected")
            return
