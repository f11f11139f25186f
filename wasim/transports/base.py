"""The one small interface every client transport implements, so listen and bench never branch.

A listener connects with its user's credentials, yields what it receives as an async iterator of
`Received` items (and `StateChange` items when its connection changes), reconnects by itself
(resuming from the last event id where the backend supports it), and closes.
Timestamps are wall-clock `time.time()` seconds, so they compare across processes.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from wasim.correlate import strings

State = Literal["connecting", "connected", "reconnecting", "closed", "failed"]


@dataclass(frozen=True)
class Received:
    """One thing a client received: a push event, or a poll response that showed new messages."""

    transport: str
    user: str
    event: str
    data: dict[str, Any]
    received_at: float
    event_id: int | None = None

    @property
    def wamids(self) -> tuple[str, ...]:
        """The strings in it shaped like Meta's message ids (`wamid.…`), in no set order.

        Only a hint for people and tests: bench and listen match what arrived to what was
        sent with `wasim.correlate`, which also finds ids of other shapes and text markers.
        """
        return tuple(dict.fromkeys(s for s in strings(self.data) if s.startswith("wamid.")))


@dataclass(frozen=True)
class StateChange:
    """The listener's connection changed state; `reason` says why when it is not by choice."""

    transport: str
    user: str
    state: State
    at: float
    reason: str | None = None


Item = Received | StateChange


@dataclass
class TransportStats:
    """What a listener cost and saw: requests, bytes, 304s, errors, reconnects."""

    requests: int = 0
    bytes_received: int = 0
    not_modified: int = 0
    etags: int = 0  # answers that carried an ETag
    errors: int = 0
    reconnects: int = 0
    events: int = 0
    last_event_id: int | None = None
    duplicates: int = 0
    gaps: int = 0
    missed: int = 0
    resets: int = 0  # `reset` events: the server had no such last event id; reloaded from its
    error_reasons: dict[str, int] = field(default_factory=dict)

    def error(self, reason: str) -> None:
        self.errors += 1
        self.error_reasons[reason] = self.error_reasons.get(reason, 0) + 1


class Listener(abc.ABC):
    """A client of one user over one transport; what it receives goes through its queue."""

    transport: str
    user: str
    stats: TransportStats

    def __init__(self, user: str) -> None:
        self.user = user
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect and authenticate; raise AuthError or TargetError if that is refused."""

    async def items(self) -> AsyncIterator[Item]:
        """Everything received, in arrival order, until `close()`."""
        while (item := await self._queue.get()) is not None:
            yield item

    def _state(self, state: State, reason: str | None = None) -> None:
        self._queue.put_nowait(StateChange(self.transport, self.user, state, time.time(), reason))

    def _end(self) -> None:
        """`items()` ends after what is queued."""
        self._queue.put_nowait(None)

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect for good; `items()` ends."""

    async def __aenter__(self) -> Listener:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
