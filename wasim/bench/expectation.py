"""What polling should deliver in theory, to print next to what it measured.

One poller every T s with a random phase shows a message after a wait uniform on [0, T): mean
T/2, worst T. A client of the seed runs several pollers with independent phases (the list from
two places every 5 s, the open chat every 3 s), and the message shows at the first of them that
would contain it, so the wait is the minimum of independent uniform waits:

    E[W] = ∫ P(W > t) dt,  P(W > t) = Π over pollers (1 - t/T_i)   (0 past any T_i)

which for the seed is ∫0^3 (1 - t/5)² (1 - t/3) dt = 0.99 s, not T/2 = 1.5 s. Two facts of the
seed's client refine it per message: the chat poller only shows messages of the open
conversation, and the list only shows a conversation's *last* message, so a list poller can show
a message only until the next one in that conversation arrives (the gap G): its factor becomes
(1 - min(t, G)/T). Hidden tabs do not poll and are not expected to show anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from wasim.bench.results import ExpectedLatency
from wasim.transports.config import PollConfig

_STEPS = 400  # Simpson panels per smooth piece; the integrand is a low-degree polynomial there


@dataclass(frozen=True)
class Message:
    """A measured message as polling sees it: in the open chat or not, time to the next one."""

    in_open_chat: bool
    gap_s: float = math.inf


def _survival(t: float, chat: list[float], lists: list[float], gap: float) -> float:
    """P(no poller has shown the message by t)."""
    p = 1.0
    for interval in chat:
        p *= max(1.0 - t / interval, 0.0)
    for interval in lists:
        p *= max(1.0 - min(t, gap) / interval, 0.0)
    return p


def _simpson(chat: list[float], lists: list[float], gap: float, a: float, b: float) -> float:
    if b <= a:
        return 0.0
    h = (b - a) / _STEPS
    total = _survival(a, chat, lists, gap) + _survival(b, chat, lists, gap)
    for k in range(1, _STEPS):
        total += (4 if k % 2 else 2) * _survival(a + k * h, chat, lists, gap)
    return total * h / 3


def expected_wait(chat: list[float], lists: list[float], gap: float = math.inf) -> float | None:
    """E[wait] in seconds for pollers with independent uniform phases; None if never shown."""
    ends = list(chat) + [interval for interval in lists if interval <= gap]
    if not ends:
        return None
    end = min(ends)
    kinks = sorted({0.0, end, *(x for x in (gap, *chat, *lists) if 0.0 < x < end)})
    return sum(_simpson(chat, lists, gap, a, b) for a, b in zip(kinks, kinks[1:], strict=False))


def worst_wait(chat: list[float], lists: list[float], gap: float = math.inf) -> float | None:
    ends = list(chat) + [interval for interval in lists if interval <= gap]
    return min(ends) if ends else None


def _seconds(value: float) -> str:
    return f"{value:g}"


def formula(plan: PollConfig) -> str:
    """The textbook integral for a message of the open chat that nothing supersedes."""
    chat = [plan.detail_interval] if plan.detail_interval else []
    pollers = [*chat, *[plan.list_interval] * plan.list_pollers]
    if not pollers:
        return "no poller"
    factors = []
    for interval in sorted(set(pollers), reverse=True):
        power = pollers.count(interval)
        factors.append(f"(1-t/{_seconds(interval)})" + (f"^{power}" if power > 1 else ""))
    return f"∫0^{_seconds(min(pollers))} {' '.join(factors)} dt"


def pattern(plan: PollConfig) -> str:
    parts = []
    if plan.list_pollers:
        count = f"{plan.list_pollers}×" if plan.list_pollers > 1 else ""
        parts.append(f"list {count}{_seconds(plan.list_interval)} s")
    if plan.detail_interval:
        parts.append(f"open chat {_seconds(plan.detail_interval)} s")
    return " + ".join(parts) or "no poller"


def polling_expectation(plan: PollConfig, messages: Iterable[Message]) -> ExpectedLatency:
    """The analytical latency of `plan` over the run's measured messages (mean, worst)."""
    lists = [plan.list_interval] * plan.list_pollers
    opened = [plan.detail_interval] if plan.detail_interval else []
    textbook = expected_wait(opened, lists) or 0.0
    means: list[float] = []
    worst = 0.0
    unshown = 0
    for message in messages:
        chat = opened if message.in_open_chat else []
        mean = expected_wait(chat, lists, message.gap_s)
        if mean is None:
            unshown += 1
            continue
        means.append(mean)
        worst = max(worst, worst_wait(chat, lists, message.gap_s) or 0.0)
    if not means:
        means, worst = [textbook], worst_wait(opened, lists) or 0.0
    return ExpectedLatency(
        interval_s=min([*opened, *lists], default=0.0),
        mean_ms=sum(means) / len(means) * 1000.0,
        max_ms=worst * 1000.0,
        pattern=pattern(plan),
        formula=formula(plan),
        formula_ms=textbook * 1000.0,
        unshown=unshown,
    )
