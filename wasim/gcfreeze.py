"""Full garbage collections kept off the delivery path without leaking (`wasim serve --gc-freeze`).

With thousands of connections the server tracks ~300 objects per connection, and a full
collection walks all of them (150-260 ms at 1,000 Socket.IO connections), stalling every
delivery meanwhile. `freeze_survivors` moves what survived a full collection out of later ones,
which then walk only what is new.

The price: a frozen object is never examined again, so a reference cycle among frozen objects
that dies later (a closed connection's) is never reclaimed: ~19 KB per closed connection. So
`Freezer` counts the connections that close; once as many have closed as are still open (and at
least `MIN_CLOSED`), it thaws everything and runs one full collection, which reclaims them, then
freezes again. With a stable set of connections that never happens; under churn it costs one
full walk per turnover of the connection set, and the leak is bounded by one turnover.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sized

from wasim.connections import TALLY

log = logging.getLogger("wasim.gcfreeze")
MIN_CLOSED = 200
CHECK_EVERY = 1.0  # seconds


def freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """A gc callback: after a full collection, move what survived out of later collections."""
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


class Freezer:
    """Freezes survivors of full collections; thaws and collects once connections turned over."""

    def __init__(self, connections: Sized) -> None:
        self.connections = connections
        self.closed_at_last = TALLY.closed
        self.thaws = 0

    def install(self) -> None:
        if freeze_survivors not in gc.callbacks:
            gc.callbacks.append(freeze_survivors)

    def check(self) -> bool:
        """Thaw and collect if enough connections closed since the last time; True if it did."""
        closed = TALLY.closed - self.closed_at_last
        if closed < max(MIN_CLOSED, len(self.connections)):
            return False
        frozen = gc.get_freeze_count()
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()  # its callback freezes what survives
        log.info(
            "%d connections closed: full collection of %d frozen objects in %.0f ms, %d remain",
            closed,
            frozen,
            (time.perf_counter() - started) * 1000,
            gc.get_freeze_count(),
        )
        self.closed_at_last = TALLY.closed
        self.thaws += 1
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            self.check()
