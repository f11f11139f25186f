"""Correlating what was sent with what each client received (`wasim.correlate`).

A received item delivers every sent message whose id or text marker it carries, wherever the
backend put it; each client holds a message once, from the first item that showed it. Items
that carry nothing sent are counted per group, with the keys they had. Receipts are kept as
they come (a push event can arrive before the POST that caused it
returns), and joined with the sends only at the end, so ordering never loses a delivery.

Every listener process knows the whole schedule (`schedule`) once the run's start is fixed,
measures its own clients into one `GroupPart` per group, and `merge_parts` adds the parts of
all processes up: histograms merged, counts summed, missing deliveries concatenated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from wasim.bench.clients import COUNTERS, Client
from wasim.bench.expectation import Message, polling_expectation
from wasim.bench.merge import merge_groups
from wasim.bench.results import ExpectedLatency, GroupResult, Missing, Moments
from wasim.bench.scenario import POLL_KINDS, ClientGroup, Scenario
from wasim.bench.timeline import Point, decimate, relative
from wasim.correlate import Matcher, leaf_keys
from wasim.payloads import PayloadFactory
from wasim.send.plan import Delivery, PlanSpec, build_plan
from wasim.stats import LatencyHistogram
from wasim.transports.base import Received


@dataclass(frozen=True)
class Sent:
    wamid: str
    user: str
    scheduled_at: float
    measured: bool
    phone: str = ""
    marker: str = ""


def plan_traffic(
    scenario: Scenario,
    phones: list[str],
    seed: int | None = None,
    only: frozenset[str] | None = None,
) -> list[Delivery]:
    """The run's POSTs, each noting the phone and marker of its messages; `seed` (else the
    scenario's) makes the ids, texts and markers. With `only` (a shard's phones), the POSTs
    of the whole plan that hold those phones' updates, and only those updates."""
    traffic = scenario.traffic
    spec = PlanSpec(
        mix=traffic.mix,
        count=max(1, traffic.messages // traffic.batch),
        rate=traffic.rate / traffic.batch,
        batch=traffic.batch,
        duplicates=traffic.duplicates,
        phones=phones,
        style="meta" if traffic.meta_style else "plain",
        senders=True,
        only=only,
    )
    factory = PayloadFactory(
        seed=seed if seed is not None else traffic.seed,
        clock=time.time,
        markers=scenario.match.marker,
    )
    return build_plan(factory, spec, scenario.backend.app_secret)


def schedule(
    plan: Iterable[Delivery], owners: dict[str, str], start: float, warmup: float
) -> list[Sent]:
    """Every message of the plan with its scheduled send time (duplicates re-send, so they
    add nothing) and whether it falls in the measured window (after the warm-up)."""
    window_start = start + warmup
    sent: list[Sent] = []
    for delivery in plan:
        if delivery.duplicate:
            continue
        scheduled_at = start + delivery.at
        for wamid, phone in delivery.senders.items():
            user = owners.get(phone, "")
            measured = scheduled_at >= window_start
            marker = delivery.markers.get(wamid, "")
            sent.append(Sent(wamid, user, scheduled_at, measured, phone, marker))
    return sent


class GroupPart(BaseModel):
    """One process's figures of one group, and its latency points (which merging decimates
    again and places in the run's window)."""

    result: GroupResult
    points: list[Point] = Field(
        default_factory=list, description="(scheduled Unix time, latency ms), decimated"
    )


def merge_parts(
    parts: list[GroupPart], window_s: float, window_start: float | None = None
) -> GroupResult:
    """One group's figures over every process, for the run's measured window (which opened
    at `window_start`, the origin of the latency timeline; else its first message)."""
    results = [part.result for part in parts]
    points = decimate(point for part in parts for point in part.points)
    origin = window_start if window_start is not None else min((t for t, _ in points), default=0)
    merged = merge_groups(results)
    merged.window_s = window_s
    merged.timeline = relative(points, origin)
    merged.per_process = [
        {"process": n, "clients": r.clients, "expected": r.expected, "delivered": r.delivered}
        for n, r in enumerate(results, start=1)
    ]
    return merged


UNMATCHED_SHOWN = 3  # event names whose keys the report shows


@dataclass
class Collector:
    """Sends and first receipts of one run; `group_part` turns them into figures.

    `seen[client][wamid]` is when the client first held the message, and how it was found
    (`id` or `marker`) over which path (`push` or `poll`).
    """

    paths: tuple[str, ...] = ()
    sent: dict[str, Sent] = field(default_factory=dict)
    seen: dict[str, dict[str, tuple[float, str, str]]] = field(default_factory=dict)
    delivered_live: int = 0
    repeats: dict[str, dict[str, int]] = field(default_factory=dict)  # pushed again, per client
    pushed: set[tuple[str, str, str]] = field(default_factory=set)  # (client, id, event)
    count_repeats: bool = False
    unmatched: dict[str, int] = field(default_factory=dict)
    unmatched_keys: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    matcher: Matcher = field(default_factory=lambda: Matcher(()))
    poll_matcher: Matcher = field(default_factory=lambda: Matcher(()))

    def expect(self, messages: Iterable[Sent]) -> None:
        """The messages this run sends; from now on received items are matched to them.

        `paths` are where push events carry the id; poll answers are always searched whole
        (their list and messages arrays are already cut out by `wasim.transports.shapes`).
        """
        for sent in messages:
            self.sent.setdefault(sent.wamid, sent)
        markers = {s.marker: s.wamid for s in self.sent.values() if s.marker}
        self.matcher = Matcher(self.sent, markers, self.paths)
        self.poll_matcher = Matcher(self.sent, markers)

    def take(self, client_id: str, group: str, item: Received) -> None:
        """Match one received item; note the messages the client holds for the first time."""
        polled = item.event == "poll"
        matches = (self.poll_matcher if polled else self.matcher).find(item.data)
        if not matches:
            if self.sent and not polled:
                self.unmatched[group] = self.unmatched.get(group, 0) + 1
                shown = self.unmatched_keys.setdefault(group, {})
                if item.event not in shown and len(shown) < UNMATCHED_SHOWN:
                    shown[item.event] = leaf_keys(item.data)
            return
        first = self.seen.setdefault(client_id, {})
        via = "poll" if polled else "push"
        for match in matches:
            if self.count_repeats and not polled:
                self._repeat(client_id, match.key, item.event)
            if match.key not in first:
                first[match.key] = (item.received_at, match.how, via)
                self.delivered_live += 1

    def _repeat(self, client_id: str, key: str, event: str) -> None:
        """A backend may push one message in several events; the same event twice is a
        duplicate (a resume replaying what the client already had)."""
        seen = (client_id, key, event)
        if seen in self.pushed:
            again = self.repeats.setdefault(client_id, {})
            again[key] = again.get(key, 0) + 1
        self.pushed.add(seen)

    def measured(self) -> list[Sent]:
        return [sent for sent in self.sent.values() if sent.measured]

    def as_polled(self, open_phones: dict[str, str]) -> list[Message]:
        """Each measured message as polling sees it: in the user's open chat or not, and how
        long until the next message of its conversation replaces it as the list's last one."""
        following: dict[str, float] = {}
        latest: dict[tuple[str, str], Sent] = {}
        for sent in sorted(self.sent.values(), key=lambda s: s.scheduled_at):
            previous = latest.get((sent.user, sent.phone))
            if previous is not None:
                following[previous.wamid] = sent.scheduled_at - previous.scheduled_at
            latest[(sent.user, sent.phone)] = sent
        return [
            Message(open_phones.get(s.user) == s.phone, following.get(s.wamid, math.inf))
            for s in self.measured()
        ]

    def outstanding(self, clients: list[Client]) -> int:
        """Deliveries still awaited by visible clients, for deciding when the drain may end."""
        by_user = _visible_by_user(clients)
        waiting = 0
        for sent in self.sent.values():
            for client in by_user.get(sent.user, []):
                if client.failed is None and sent.wamid not in self.seen.get(client.id, {}):
                    waiting += 1
        return waiting

    def group_part(
        self,
        group: ClientGroup,
        clients: list[Client],
        counters: dict[str, dict[str, int]],
        window_s: float,
        at_connect: dict[str, dict[str, int]] | None = None,
        open_phones: dict[str, str] | None = None,
    ) -> GroupPart:
        """Latency, delivery and cost of one group's `clients`; `counters` are per client, for
        the window, `at_connect` per client, what opening it cost; `open_phones` each user's
        open chat."""
        histogram = LatencyHistogram()
        expected = delivered = 0
        missing: list[Missing] = []
        missing_count = 0
        by_user = _visible_by_user(clients)
        per_client: dict[str, list[float]] = {}
        points: list[Point] = []
        matched_by: dict[str, int] = {}
        for sent in self.measured():
            for client in by_user.get(sent.user, []):
                expected += 1
                receipt = self.seen.get(client.id, {}).get(sent.wamid)
                if receipt is None:
                    missing_count += 1
                    if len(missing) < 20:
                        missing.append(Missing(wamid=sent.wamid, user=sent.user, client=client.id))
                    continue
                at, how, via = receipt
                delivered += 1
                for name in (how, via):
                    matched_by[name] = matched_by.get(name, 0) + 1
                latency = max(at - sent.scheduled_at, 0.0)
                histogram.record(latency)
                per_client.setdefault(client.id, []).append(latency)
                points.append((sent.scheduled_at, latency * 1000.0))
        totals: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
        connect_requests = connect_bytes = 0
        per_user: dict[str, dict[str, int]] = {}
        for client in clients:
            counted = counters.get(client.id, {})
            for key in totals:
                totals[key] += counted.get(key, 0)
            opening = (at_connect or {}).get(client.id, {})
            connect_requests += opening.get("requests", 0)
            connect_bytes += opening.get("bytes", 0)
            user = per_user.setdefault(client.user, {"requests": 0, "bytes": 0})
            user["requests"] += counted.get("requests", 0)
            user["bytes"] += counted.get("bytes", 0)
        plan = group.polling
        expected_latency: ExpectedLatency | None = None
        if plan is not None and group.kind in POLL_KINDS:
            expected_latency = polling_expectation(plan, self.as_polled(open_phones or {}))
        result = GroupResult(
            **totals,
            name=group.label,
            kind=group.kind,
            clients=len(clients),
            visible_clients=sum(1 for c in clients if c.visible),
            users=len({c.user for c in clients}),
            latency=histogram.summary(),
            histogram=histogram.encode(),
            expected=expected,
            delivered=delivered,
            missing=missing,
            missing_count=missing_count,
            window_s=window_s,
            per_user=per_user,
            expected_latency=expected_latency,
            connect_requests=connect_requests,
            connect_bytes=connect_bytes,
            matched_by=matched_by,
            unmatched=self.unmatched.get(group.label, 0),
            unmatched_keys=self.unmatched_keys.get(group.label, {}),
            failed_clients=sum(1 for c in clients if c.failed is not None),
            failure=next((c.failed for c in clients if c.failed is not None), ""),
        )
        means = Moments.of([sum(v) / len(v) for v in per_client.values() if v])
        result.client_means = means
        result.latency_mean_se_ms = means.standard_error() * 1000.0
        return GroupPart(result=result, points=decimate(points))


def _visible_by_user(clients: list[Client]) -> dict[str, list[Client]]:
    by_user: dict[str, list[Client]] = {}
    for client in clients:
        if client.visible:
            by_user.setdefault(client.user, []).append(client)
    return by_user


def window_counters(
    clients: list[Client], start: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Each client's counters now minus at the start of the measured window."""
    result: dict[str, dict[str, int]] = {}
    for client in clients:
        now, before = client.counters(), start.get(client.id, {})
        result[client.id] = {key: now[key] - before.get(key, 0) for key in now}
    return result


def matching_warnings(group: GroupResult) -> list[str]:
    """What a reader must know about how a group's deliveries were found, or not."""
    warnings = []
    if group.failed:
        warnings.append(f"{group.name}: {group.failure}; this column measured nothing")
        return warnings
    if group.unmatched:
        shown = "; ".join(
            f"{event}: {', '.join(keys) or 'no keys'}"
            for event, keys in group.unmatched_keys.items()
        )
        advice = " (set [match] id_paths to where the id is)" if not group.delivered else ""
        warnings.append(
            f"{group.name}: {group.unmatched} event(s) carried no id or marker this run "
            f"sent ({shown}){advice}"
        )
    if group.kind == "poll-optimized" and group.requests and not group.etags:
        warnings.append(
            f"{group.name}: the backend sends no ETag, so optimized polling had no 304s to "
            "gain (only its longer intervals and hidden tabs save requests)"
        )
    return warnings
