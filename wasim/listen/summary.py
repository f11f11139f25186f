"""What a listen run saw, mergeable across processes: events, reconnects, duplicates, gaps."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field, computed_field

from wasim.correlate import Match, leaf_keys
from wasim.listen.latency import Source
from wasim.stats import Histogram, LatencyHistogram, LatencySummary
from wasim.transports.base import Received, TransportStats

# The counters that add up when summaries of several processes merge.
COUNTS = (
    "requested",
    "connected",
    "failed",
    "reconnects",
    "duplicates",
    "gaps",
    "missed",
    "down_at_end",
    "by_push",
    "by_poll",
    "poll_requests",
    "matched",
    "unmatched",
)


class Summary(BaseModel):
    """Counts over every listener of a run; `merge` adds another process's summary.

    Latencies are kept apart by source: exact ones from the send ledger, and (with no ledger)
    estimates from message timestamps; `latency` is the ledger's when it has any. Its JSON
    (`model_dump`) is the `summary` record of `wasim listen --json` and what a listener
    process sends its parent.
    """

    requested: int = 0
    connected: int = 0
    failed: int = 0
    failures: Counter[str] = Field(default_factory=Counter)
    events: Counter[str] = Field(default_factory=Counter)
    reconnects: int = 0
    duplicates: int = 0
    gaps: int = 0
    missed: int = 0
    down_at_end: int = 0
    by_push: int = 0
    by_poll: int = 0
    poll_requests: int = 0
    duration: float = 0.0
    ledger_latency: Histogram = Field(default_factory=LatencyHistogram)
    timestamp_latency: Histogram = Field(default_factory=LatencyHistogram)
    matched: int = 0
    matched_by: Counter[str] = Field(default_factory=Counter)
    unmatched: int = 0
    unmatched_keys: dict[str, list[str]] = Field(default_factory=dict)

    def record(
        self,
        item: Received,
        matches: list[Match],
        new: list[str],
        latency: float | None,
        source: Source | None,
    ) -> None:
        """One event; `new` are the messages its listener holds for the first time, whose
        latency (the event's) counts once per listener and message."""
        self.events[f"{item.transport}/{item.event}"] += 1
        if matches:
            self.matched += 1
        elif source != "timestamp":
            self.unmatched += 1
            if item.event not in self.unmatched_keys and len(self.unmatched_keys) < 3:
                self.unmatched_keys[item.event] = leaf_keys(item.data)
        via = "by_poll" if item.transport == "poll" else "by_push"
        setattr(self, via, getattr(self, via) + len(new))
        for match in matches:
            if match.key in new:
                self.matched_by[match.how] += 1
        if latency is None:
            return
        if source == "timestamp":
            self.timestamp_latency.record(latency)
        elif new:
            self.ledger_latency.record(latency)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def latency_ms(self) -> LatencySummary:
        return self.latency.summary()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hint(self) -> str | None:
        """One line when events arrived that carry nothing `wasim send` sent."""
        if not self.unmatched or self.matched:
            return None
        keys = "; ".join(
            f"{event}: {', '.join(keys) or 'no keys'}"
            for event, keys in self.unmatched_keys.items()
        )
        return (
            f"{self.unmatched} event(s) carried no message id or marker from the send ledger "
            f"({keys}): point --id-path at the id (e.g. --id-path message.id), or send with "
            "--marker when the backend passes on only the text"
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def latency_source(self) -> Source | None:
        if self.ledger_latency.count:
            return "ledger"
        return "timestamp" if self.timestamp_latency.count else None

    @property
    def latency(self) -> LatencyHistogram:
        return self.ledger_latency if self.ledger_latency.count else self.timestamp_latency

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failures[reason] += 1

    def add_stats(self, stats: TransportStats) -> None:
        self.reconnects += stats.reconnects
        self.duplicates += stats.duplicates
        self.gaps += stats.gaps
        self.missed += stats.missed

    def merge(self, other: Summary) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.update(other.failures)
        self.events.update(other.events)
        self.matched_by.update(other.matched_by)
        for event, keys in other.unmatched_keys.items():
            self.unmatched_keys.setdefault(event, keys)
        self.duration = max(self.duration, other.duration)
        self.ledger_latency.merge(other.ledger_latency)
        self.timestamp_latency.merge(other.timestamp_latency)
