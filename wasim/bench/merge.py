"""One result from the shards of a run (`wasim report merge`), exact where it can be.

Each shard measured its own users on its own clock (`wasim.bench.shard`), so the merge adds
up: histograms merged (HdrHistogram, not averaged percentiles), counts and costs summed, the
per-user tables and missing deliveries joined, the clients' mean-latency moments summed (the
standard error stays exact). The shards ran side by side, so the merged window is the longest
shard's, and a backend counter (every shard scraped the same backend) the largest delta any
shard saw. The thresholds are evaluated again on the merged figures.

Shards of different scenarios or seeds, a missing or repeated shard, or a document that is not
a shard's are refused with a ConfigError naming the file.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wasim.bench.results import (
    BenchResult,
    ExpectedLatency,
    GroupResult,
    MachineLoad,
    Saturation,
    TrafficSummary,
    merge_faults,
)
from wasim.bench.thresholds import judge
from wasim.bench.timeline import decimate
from wasim.errors import ConfigError
from wasim.stats import LatencyHistogram

SUSPECT = "SUSPECT: "  # how the runner starts a saturation warning (matrix.notes dedupes by it)


def expand(paths: Sequence[Path]) -> list[Path]:
    """`paths`, with a pattern such as `results/shard-*.json` that names no file expanded (a
    process runner without a shell, e.g. a container's command, passes it as it is)."""
    expanded: list[Path] = []
    for path in paths:
        pattern = str(path)
        wild = any(character in pattern for character in "*?[")
        matches = sorted(glob.glob(pattern)) if wild and not path.exists() else []
        expanded += [Path(match) for match in matches] or [path]
    return expanded


def load_shards(paths: Sequence[Path]) -> list[BenchResult]:
    """Read shard documents (`wasim bench --shard I/N --json-file …`); a file that cannot be
    read or is not a shard's raises ConfigError naming it."""
    results = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            result = BenchResult.model_validate(data)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"{path}: not a wasim bench result ({first})") from None
        if result.shard is None:
            raise ConfigError(f"{path}: not a shard's result (run wasim bench with --shard I/N)")
        results.append(result)
    return results


def merge_results(shards: Sequence[BenchResult], names: Sequence[str] = ()) -> BenchResult:
    """The result of the whole run from its shards' results, thresholds evaluated on it.

    `names` (the files, in the same order) are what error messages call each shard."""
    labels = list(names) or [f"result {number}" for number in range(1, len(shards) + 1)]
    _check(shards, labels)
    ordered = sorted(shards, key=lambda result: result.shard.index if result.shard else 0)
    first = ordered[0]
    result = BenchResult(
        scenario=first.scenario,
        seed=first.seed,
        target=", ".join(dict.fromkeys(result.target for result in ordered)),
        started_at=min(result.started_at for result in ordered),
        duration_s=max(result.duration_s for result in ordered),
        traffic=_traffic([result.traffic for result in ordered]),
        groups=[_merge_column(ordered, index) for index in range(len(first.groups))],
        saturation=_saturation(ordered),
        server=_server(ordered),
        faults=first.faults,
        warnings=list(dict.fromkeys(_warnings(ordered))),
        shards=[result.shard for result in ordered if result.shard is not None],
    )
    result.thresholds = judge([verdict.expression for verdict in first.thresholds], result)
    return result


def _merge_column(shards: Sequence[BenchResult], index: int) -> GroupResult:
    """Client group `index` over every shard; its per-process rows say which shard."""
    groups = [shard.groups[index] for shard in shards]
    merged = merge_groups(groups, [shard.traffic.measured for shard in shards])
    merged.per_process = [
        {"shard": shard.shard.index if shard.shard else 0, **row}
        for shard, group in zip(shards, groups, strict=True)
        for row in group.per_process
    ]
    return merged


def _check(shards: Sequence[BenchResult], labels: list[str]) -> None:
    if not shards:
        raise ConfigError("no shard to merge")
    seen: dict[int, str] = {}
    reference = shards[0].shard
    for result, label in zip(shards, labels, strict=True):
        info = result.shard
        if info is None:
            raise ConfigError(f"{label}: not a shard's result (run wasim bench with --shard I/N)")
        assert reference is not None
        if info.scenario != reference.scenario or info.scenario_hash != reference.scenario_hash:
            raise ConfigError(
                f"{label}: shard of another scenario ({info.scenario} {info.scenario_hash}, "
                f"not {reference.scenario} {reference.scenario_hash} as {labels[0]})"
            )
        if info.seed != reference.seed:
            raise ConfigError(
                f"{label}: shard of another run (seed {info.seed}, not {reference.seed} "
                f"as {labels[0]})"
            )
        if info.count != reference.count:
            raise ConfigError(
                f"{label}: shard {info.index}/{info.count}, but {labels[0]} is one of "
                f"{reference.count}"
            )
        if info.index in seen:
            raise ConfigError(
                f"{label}: shard {info.index}/{info.count} repeated (also {seen[info.index]})"
            )
        seen[info.index] = label
        if [group.name for group in result.groups] != [g.name for g in shards[0].groups]:
            raise ConfigError(f"{label}: client groups differ from {labels[0]}'s")
    assert reference is not None
    absent = [index for index in range(1, reference.count + 1) if index not in seen]
    if absent:
        listed = ", ".join(f"{index}/{reference.count}" for index in absent)
        raise ConfigError(
            f"shard {listed} missing" if len(absent) == 1 else f"shards {listed} missing"
        )


# Counts of a group that add up over listener processes and over shards.
SUMMED = (
    *("clients", "visible_clients", "expected", "delivered", "missing_count", "unmatched"),
    *("requests", "bytes", "not_modified", "etags", "errors", "reconnects"),
    *("connect_requests", "connect_bytes", "failed_clients"),
)


def merge_groups(groups: Sequence[GroupResult], measured: Sequence[int] = ()) -> GroupResult:
    """One client group over parts of a run measured apart (listener processes, shards).

    Histograms merged, counts summed, per-user costs added user by user, missing deliveries and
    latency timelines joined, the clients' mean-latency moments added (so the standard error is
    the whole run's); the window is the longest part's. `measured` (each part's measured
    messages) weights polling's expected wait; without it, the first part's is kept (every
    listener process works it out over the whole schedule).
    """
    first = groups[0]
    histogram = LatencyHistogram.decode(*(group.histogram for group in groups))
    steady = LatencyHistogram.decode(*(group.steady_histogram for group in groups))
    per_user: dict[str, dict[str, int]] = {}
    for group in groups:  # one pass: a shard's users are its own, a process's may repeat
        for user, cost in group.per_user.items():
            summed = per_user.setdefault(user, {})
            for name, value in cost.items():
                summed[name] = summed.get(name, 0) + value
    means = sum((group.client_means for group in groups[1:]), first.client_means)
    counts: dict[str, Any] = {name: sum(getattr(g, name) for g in groups) for name in SUMMED}
    return GroupResult(
        **counts,
        name=first.name,
        kind=first.kind,
        users=len(per_user),
        latency=histogram.summary(),
        histogram=histogram.encode(),
        latency_mean_se_ms=means.standard_error() * 1000.0,
        client_means=means,
        missing=[item for group in groups for item in group.missing],
        window_s=max(group.window_s for group in groups),
        per_user=per_user,
        expected_latency=(
            _expected([group.expected_latency for group in groups], measured)
            if measured
            else first.expected_latency
        ),
        per_process=[row for group in groups for row in group.per_process],
        matched_by=_sum_counts(group.matched_by for group in groups),
        unmatched_keys={k: v for group in groups for k, v in group.unmatched_keys.items()},
        failure=next((group.failure for group in groups if group.failure), ""),
        faults=merge_faults([group.faults for group in groups]),
        steady=steady.summary() if steady.count else None,
        steady_histogram=steady.encode(),
        timeline=decimate(point for group in groups for point in group.timeline),
    )


def _sum_counts(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for count in counts:
        for name, value in count.items():
            summed[name] = summed.get(name, 0) + value
    return summed


def _expected(
    parts: Sequence[ExpectedLatency | None], measured: Sequence[int]
) -> ExpectedLatency | None:
    """Polling's analytical wait over every shard's messages: the shards' means weighted by
    the messages each averaged over."""
    kept = [
        (part, max(weight - part.unshown, 0))
        for part, weight in zip(parts, measured, strict=True)
        if part is not None
    ]
    if not kept:
        return None
    weight = sum(w for _, w in kept)
    mean = (
        sum(part.mean_ms * w for part, w in kept) / weight
        if weight
        else sum(part.mean_ms for part, _ in kept) / len(kept)
    )
    return kept[0][0].model_copy(
        update={
            "mean_ms": mean,
            "max_ms": max(part.max_ms for part, _ in kept),
            "unshown": sum(part.unshown for part, _ in kept),
        }
    )


def _traffic(parts: Sequence[TrafficSummary]) -> TrafficSummary:
    return TrafficSummary(
        messages=sum(part.messages for part in parts),
        measured=sum(part.measured for part in parts),
        posts=sum(part.posts for part in parts),
        duplicates=sum(part.duplicates for part in parts),
        send_errors=sum(part.send_errors for part in parts),
        rate=parts[0].rate,
    )


def _label(result: BenchResult) -> str:
    info = result.shard
    return f"shard {info.index}/{info.count}" if info is not None else "shard"


def _saturation(results: Sequence[BenchResult]) -> Saturation:
    """Every listener process of every shard, each named with its shard; the flat figures are
    the busiest process's, the machine the busiest shard's."""
    processes = tuple(
        process.model_copy(
            update={
                "name": f"{_label(result)} {process.name}",
                "reasons": tuple(f"{_label(result)}: {r}" for r in process.reasons),
            }
        )
        for result in results
        for process in result.saturation.processes
    )
    reasons = tuple(
        f"{_label(result)}: {reason}" for result in results for reason in result.saturation.reasons
    )
    machines = [result.saturation.machine for result in results]
    busiest = max((result.saturation for result in results), key=lambda s: s.cpu_percent_max)
    machine = max(machines, key=lambda load: load.cpu_percent_max, default=MachineLoad())
    return Saturation(
        cpu_percent_mean=busiest.cpu_percent_mean,
        cpu_percent_max=busiest.cpu_percent_max,
        loop_lag_p99_ms=max(result.saturation.loop_lag_p99_ms for result in results),
        loop_lag_max_ms=max(result.saturation.loop_lag_max_ms for result in results),
        reasons=reasons,
        processes=processes,
        machine=machine.model_copy(update={"busy": any(m.busy for m in machines)}),
    )


def _server(results: Sequence[BenchResult]) -> dict[str, float] | None:
    counters = [result.server for result in results if result.server is not None]
    if not counters:
        return None
    names = dict.fromkeys(name for counter in counters for name in counter)
    return {name: max(counter.get(name, 0.0) for counter in counters) for name in names}


def _warnings(results: Sequence[BenchResult]) -> Iterable[str]:
    for result in results:
        for warning in result.warnings:
            suspect = warning.startswith(SUSPECT)
            text = warning.removeprefix(SUSPECT)
            yield f"{SUSPECT if suspect else ''}{_label(result)}: {text}"
