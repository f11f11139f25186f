"""An event's delivery latency: precise from the send ledger, else estimated from its timestamp.

With the ledger, latency is received − the scheduled start of the POST that carried the event's
wamid. The ledger is written every ~100 ms, so while a send is running an event whose wamid is
not known yet is held (at most `HOLD_S`, in arrival order) until the ledger catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from wasim.ledger import LedgerFollower
from wasim.transports.base import Received

Source = Literal["ledger", "timestamp"]
Deliver = Callable[[Received, float | None, Source | None], None]
POLL_S = 0.05
HOLD_S = 1.0
_POLL_NOW_S = 0.005


def from_timestamp(item: Received) -> float | None:
    """Delivery latency from the message's own `timestamp` (whole seconds), when it is recent."""
    message = item.data.get("message")
    if not isinstance(message, dict):
        conversation = item.data.get("conversation")
        message = conversation.get("last_message") if isinstance(conversation, dict) else None
    stamp = message.get("timestamp") if isinstance(message, dict) else item.data.get("timestamp")
    if not isinstance(stamp, str | int) or not str(stamp).isdigit():
        return None
    elapsed = item.received_at - int(stamp)
    return elapsed if 0 <= elapsed < 3600 else None


class Latencies:
    """Hands each received event to `deliver` with its latency and where that came from."""

    def __init__(self, ledger: Path | None, deliver: Deliver) -> None:
        self.follower = LedgerFollower(ledger) if ledger is not None else None
        self.deliver = deliver
        self._held: deque[tuple[float, Received]] = deque()
        self._polled = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.follower is not None:
            self.follower.start()
            self._task = asyncio.create_task(self._follow())

    def take(self, item: Received) -> None:
        if not self._held:
            found = self.from_ledger(item)
            if found is None and self._may_come(item):
                found = self.from_ledger(item)
                if found is None:
                    self._held.append((time.monotonic() + HOLD_S, item))
                    return
            self._deliver(item, found)
            return
        self._held.append((time.monotonic() + HOLD_S, item))

    def from_ledger(self, item: Received) -> float | None:
        """Received − scheduled start, from the earliest POST that carried one of its ids."""
        if self.follower is None or not item.wamids:
            return None
        status = item.data.get("status") if item.event != "poll" else None
        status = status if isinstance(status, str) else None
        found = [self.follower.lookup(w, status) for w in item.wamids]
        times = [t for t in found if t is not None]
        return max(item.received_at - min(times), 0.0) if times else None

    async def close(self) -> None:
        """Stop following; deliver every held event with what is known now."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.follower is not None:
            self.follower.poll()
        self._release(final=True)

    def _may_come(self, item: Received) -> bool:
        # Its wamid may be in a ledger line not flushed or read yet, if a send is running.
        follower = self.follower
        if follower is None or not item.wamids:
            return False
        now = time.monotonic()
        if now - self._polled >= _POLL_NOW_S:
            self._polled = now
            follower.poll()
        return follower.active

    def _deliver(self, item: Received, ledger: float | None) -> None:
        if ledger is not None:
            self.deliver(item, ledger, "ledger")
        else:
            stamp = from_timestamp(item)
            self.deliver(item, stamp, "timestamp" if stamp is not None else None)

    async def _follow(self) -> None:
        assert self.follower is not None
        while True:
            await asyncio.sleep(POLL_S)
            self.follower.poll()
            self._release(final=False)

    def _release(self, final: bool) -> None:
        now = time.monotonic()
        while self._held:
            deadline, item = self._held[0]
            found = self.from_ledger(item)
            if found is None and not final and now < deadline:
                return
            self._held.popleft()
            self._deliver(item, found)
