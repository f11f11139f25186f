"""Correlating what was sent with what each client received, by message id (wamid).

Receipts are kept as they come (a push event can arrive before the POST that caused it
returns), and joined with the sends only at the end, so ordering never loses a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wasim.bench.clients import Client
from wasim.bench.results import ExpectedLatency, GroupResult, Missing
from wasim.bench.scenario import ClientGroup
from wasim.stats import LatencyHistogram


@dataclass(frozen=True)
class Sent:
    wamid: str
    user: str
    scheduled_at: float
    measured: bool


@dataclass
class Collector:
    """Sends and first receipts of one run; `group_result` turns them into figures."""

    sent: dict[str, Sent] = field(default_factory=dict)
    seen: dict[str, dict[str, float]] = field(default_factory=dict)
    delivered_live: int = 0

    def expect(self, wamid: str, user: str, scheduled_at: float, measured: bool) -> None:
        self.sent.setdefault(wamid, Sent(wamid, user, scheduled_at, measured))

    def saw(self, client_id: str, wamids: tuple[str, ...], at: float) -> None:
        first = self.seen.setdefault(client_id, {})
        for wamid in wamids:
            if wamid not in first:
                first[wamid] = at
                self.delivered_live += 1

    def measured(self) -> list[Sent]:
        return [sent for sent in self.sent.values() if sent.measured]

    def outstanding(self, clients: list[Client]) -> int:
        """Deliveries still awaited by visible clients, for deciding when the drain may end."""
        by_user: dict[str, list[Client]] = {}
        for client in clients:
            if client.visible:
                by_user.setdefault(client.user, []).append(client)
        waiting = 0
        for sent in self.sent.values():
            for client in by_user.get(sent.user, []):
                if sent.wamid not in self.seen.get(client.id, {}):
                    waiting += 1
        return waiting

    def group_result(
        self,
        group: ClientGroup,
        clients: list[Client],
        counters: dict[str, dict[str, int]],
        window_s: float,
    ) -> GroupResult:
        """Latency, delivery and cost of one group; `counters` are per client, for the window."""
        histogram = LatencyHistogram()
        expected = delivered = 0
        missing: list[Missing] = []
        missing_count = 0
        by_user: dict[str, list[Client]] = {}
        for client in clients:
            if client.visible:
                by_user.setdefault(client.user, []).append(client)
        for sent in self.measured():
            for client in by_user.get(sent.user, []):
                expected += 1
                at = self.seen.get(client.id, {}).get(sent.wamid)
                if at is None:
                    missing_count += 1
                    if len(missing) < 20:
                        missing.append(Missing(sent.wamid, sent.user, client.id))
                    continue
                delivered += 1
                histogram.record(max(at - sent.scheduled_at, 0.0))
        totals = {"requests": 0, "bytes": 0, "not_modified": 0, "errors": 0, "reconnects": 0}
        per_user: dict[str, dict[str, int]] = {}
        for client in clients:
            counted = counters.get(client.id, {})
            for key in totals:
                totals[key] += counted.get(key, 0)
            user = per_user.setdefault(client.user, {"requests": 0, "bytes": 0})
            user["requests"] += counted.get("requests", 0)
            user["bytes"] += counted.get("bytes", 0)
        plan = group.polling
        expected_latency = (
            ExpectedLatency(plan.interval) if plan is not None and group.kind != "hybrid" else None
        )
        return GroupResult(
            name=group.label,
            kind=group.kind,
            clients=len(clients),
            visible_clients=sum(1 for c in clients if c.visible),
            users=len({c.user for c in clients}),
            latency=histogram.summary(),
            histogram=histogram.encode() if histogram.count else "",
            expected=expected,
            delivered=delivered,
            missing=missing,
            missing_count=missing_count,
            window_s=window_s,
            per_user=per_user,
            expected_latency=expected_latency,
            **totals,
        )


def window_counters(
    clients: list[Client], start: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Each client's counters now minus at the start of the measured window."""
    result: dict[str, dict[str, int]] = {}
    for client in clients:
        now, before = client.counters(), start.get(client.id, {})
        result[client.id] = {key: now[key] - before.get(key, 0) for key in now}
    return result
