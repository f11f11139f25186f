"""An event's delivery latency: exact from the send ledger (or, with no ledger, an estimate).

Each event is matched to what `wasim send` posted (`wasim.correlate`: any string that is a sent
id, or a text marker, or only the configured `paths`) against the ledger's index, and its
latency is received − the scheduled start of the earliest POST that carried a match. The ledger
is written every ~100 ms, so while a send is running an event that looks like it may carry a
sent id not known yet is held (at most `HOLD_S`, in arrival order) until the ledger catches up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from wasim.correlate import MARKER, Match, Matcher, strings
from wasim.ledger import LedgerFollower, key
from wasim.payloads.statuses import STATUSES
from wasim.tasks import cancel
from wasim.transports.base import Received

Source = Literal["ledger", "timestamp"]
Deliver = Callable[[Received, int, list[Match], float | None, Source | None], None]
POLL_S = 0.05
HOLD_S = 1.0
_POLL_NOW_S = 0.005
_STATUSES = frozenset(STATUSES)


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


def may_carry_sent(item: Received) -> bool:
    """Whether an event has a string shaped like what wasim sends (a wamid, a marker)."""
    return any(s.startswith("wamid.") or MARKER.search(s) for s in strings(item.data))


class Latencies:
    """Hands each received event to `deliver` with its matches, latency and its source."""

    def __init__(self, ledger: Path | None, deliver: Deliver, paths: Sequence[str] = ()) -> None:
        self.follower = LedgerFollower(ledger) if ledger is not None else None
        self.deliver = deliver
        self.matcher: Matcher | None = None
        self.poll_matcher: Matcher | None = None
        if self.follower is not None:
            # `paths` are where push events carry the id; poll answers are searched whole.
            self.matcher = Matcher(self.follower.ids, self.follower.markers, paths)
            self.poll_matcher = Matcher(self.follower.ids, self.follower.markers)
        self._held: deque[tuple[float, Received, int]] = deque()
        self._polled = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.follower is not None:
            self.follower.start()
            self._task = asyncio.create_task(self._follow())

    def take(self, item: Received, listener: int) -> None:
        """Match an event that `listener` (any key for who received it) received."""
        if not self._held:
            matches = self.matches(item)
            if not matches and self._may_come(item):
                matches = self.matches(item)
                if not matches:
                    self._held.append((time.monotonic() + HOLD_S, item, listener))
                    return
            self._deliver(item, listener, matches)
            return
        self._held.append((time.monotonic() + HOLD_S, item, listener))

    def matches(self, item: Received) -> list[Match]:
        matcher = self.poll_matcher if item.event == "poll" else self.matcher
        return matcher.find(item.data) if matcher is not None else []

    def from_ledger(self, item: Received, matches: list[Match]) -> float | None:
        """Received − scheduled start, from the earliest POST that carried one of `matches`."""
        if self.follower is None or not matches:
            return None
        times = [t for match in matches if (t := self._scheduled(match, item)) is not None]
        return max(item.received_at - min(times), 0.0) if times else None

    def _scheduled(self, match: Match, item: Received) -> float | None:
        """When the POST carrying this id was due; for a status event, that status's POST."""
        assert self.follower is not None
        if match.how == "id":
            for word in strings(item.data):
                if word in _STATUSES:
                    found = self.follower.scheduled.get(key(match.key, word))
                    if found is not None:
                        return found
        return self.follower.ids.get(match.key)

    async def close(self) -> None:
        """Stop following; deliver every held event with what is known now."""
        await cancel(self._task)
        if self.follower is not None:
            self.follower.poll()
        self._release(final=True)

    def _may_come(self, item: Received) -> bool:
        # Its id may be in a ledger line not flushed or read yet, if a send is running.
        follower = self.follower
        if follower is None or not may_carry_sent(item):
            return False
        now = time.monotonic()
        if now - self._polled >= _POLL_NOW_S:
            self._polled = now
            follower.poll()
        return follower.active

    def _deliver(self, item: Received, listener: int, matches: list[Match]) -> None:
        if self.follower is not None:
            latency = self.from_ledger(item, matches)
            self.deliver(
                item, listener, matches, latency, "ledger" if latency is not None else None
            )
            return
        # No ledger (--no-ledger): an estimate from the message's whole-second timestamp.
        stamp = from_timestamp(item)
        self.deliver(item, listener, [], stamp, "timestamp" if stamp is not None else None)

    async def _follow(self) -> None:
        assert self.follower is not None
        while True:
            await asyncio.sleep(POLL_S)
            self.follower.poll()
            self._release(final=False)

    def _release(self, final: bool) -> None:
        now = time.monotonic()
        while self._held:
            deadline, item, listener = self._held[0]
            matches = self.matches(item)
            if not matches and not final and now < deadline:
                return
            self._held.popleft()
            self._deliver(item, listener, matches)
