"""A listen run's live figures, for `--metrics-port` and `--otlp-endpoint`.

They take bench's shape and path (`wasim.bench.live`): each listener process reads a
`LiveShare` of its own once a second (one group: the run's transport), children send theirs
to the parent as `figures` records, and the parent merges the latest of every process with
`wasim.bench.live.merge` into the `LiveSnapshot` that `wasim.observe.Metrics` takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wasim.bench.live import LiveGroup, LiveLoad, LiveShare, LiveSnapshot, load_of, merge
from wasim.bench.saturation import Monitor

if TYPE_CHECKING:
    from wasim.listen.runner import Emit, Run

EVERY = 1.0  # seconds between readings
GROUP = "listen"

OnShare = Callable[[LiveShare], None]
OnFigures = Callable[[LiveSnapshot], None]


def share_of(run: Run, load: LiveLoad) -> LiveShare:
    """One process's figures so far: deliveries (first receipts per listener), latency,
    what its listeners cost, and how many are connected now."""
    stats = [listener.stats for listener in run.listeners]
    summary = run.summary
    group = LiveGroup(
        name=GROUP,
        kind=run.options.kind,
        delivered=summary.by_push + summary.by_poll,
        requests=sum(s.requests for s in stats),
        bytes=sum(s.bytes_received for s in stats),
        errors=sum(s.errors for s in stats),
        reconnects=sum(s.reconnects for s in stats),
        connected=run.connected_now,
        histogram=summary.latency.encode(),
    )
    return LiveShare(groups=[group], load=load)


async def report(run: Run, on_share: OnShare) -> None:
    """Hand `on_share` this process's figures every `EVERY` seconds until cancelled."""
    monitor = Monitor(name=f"listener process {run.options.process}")
    monitor.clients = run.summary.requested
    monitor.start()
    try:
        while True:
            await asyncio.sleep(EVERY)
            on_share(share_of(run, load_of(monitor)))
    finally:
        await monitor.stop()


def snapshot(shares: Sequence[LiveShare], phase: str, began: float) -> LiveSnapshot:
    """Every process's latest figures as one reading."""
    elapsed = time.monotonic() - began
    return LiveSnapshot(
        phase=phase,
        elapsed_s=elapsed,
        total_s=0.0,
        posts=0,
        planned=0,
        groups=merge(shares),
        processes=[share.load for share in shares],
    )


class Gatherer:
    """The parent's side: the latest `figures` record of each child, merged once a second."""

    def __init__(self, on_figures: OnFigures, children: int) -> None:
        self.on_figures = on_figures
        self.children = children
        self.latest: dict[int, LiveShare] = {}
        self.phase = "connecting"
        self.began = time.monotonic()
        self._next = 0.0

    def watch(self, emit: Emit) -> Emit:
        """`emit`, noting when every listener is up (the `ready` record)."""

        def watching(record: dict[str, Any]) -> None:
            if record.get("type") == "ready":
                self.phase = "listening"
            emit(record)

        return watching

    def take(self, child: int, record: dict[str, Any] | LiveShare) -> None:
        """A child's `figures` record (or, in one process, its share itself)."""
        self.latest[child] = (
            record if isinstance(record, LiveShare) else LiveShare.model_validate(record)
        )
        now = time.monotonic()
        if len(self.latest) == self.children and now >= self._next:
            self._next = now + EVERY * 0.9  # a round of readings arrives over a few ms
            self.on_figures(snapshot(list(self.latest.values()), self.phase, self.began))
