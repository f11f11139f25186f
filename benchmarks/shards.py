"""What merging a sharded run costs (`wasim report merge`), and what live metrics cost.

Run: python benchmarks/shards.py                      # 100 shards, 5 rounds, ~1 minute
     python benchmarks/shards.py --shards 20 --rounds 3
     python benchmarks/shards.py --base shard-1.json   # vary this shard's result instead

1. Merge time for `--shards` shard files. The shards are one real run's result, varied: a short
   run of a 3-column scenario (Socket.IO, SSE, polling) against the bundled backend, as shard
   1/1 (or `--base`, any shard's JSON), is written `--shards` times as shard k/N, each with
   `--users` users of its own (per-user costs drawn around the real ones) and each column's
   histogram re-recorded from the real run's recorded latencies, each value moved by up to
   ±20% and counted `--scale` times over, so the files have the size and the histograms the
   shape of a large run's shards. Timed, interleaved in a rotating order, `--rounds` times:
   (a) the baseline, reading and `json.loads` of every file; (b) `load_shards` (read and
   validate); (c) `load_shards` + `merge_results`, what `wasim report merge` does before it
   renders. It prints min / median / max seconds of each, the ratio of the medians to (a),
   and checks that the merge's counts are the shards' sums.
2. The metrics endpoint's cost: when `benchmarks/metrics_cost.py` is present, its
   `measure(reps)` is called and its figures printed as it returns them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from wasim.bench import BenchResult, loads, run_bench
from wasim.bench.merge import load_shards, merge_results
from wasim.bench.shard import Shard
from wasim.stats import LatencyHistogram

HERE = Path(__file__).resolve().parent
SCENARIO = """
name = "shards-bench"

[backend]
spawn = true

[users]
count = 20

[traffic]
rate = 40
duration = "3s"
drain = "3s"
seed = 11

[[clients]]
kind = "socketio"

[[clients]]
kind = "sse"

[[clients]]
kind = "poll"
list_interval = "0.5s"
detail_interval = "0.3s"
"""


def real_shard() -> dict[str, Any]:
    """One real run of a small scenario, as shard 1/1 (its JSON document)."""
    result = asyncio.run(run_bench(loads(SCENARIO), shard=Shard(1, 1)))
    return result.document()


def resampled(encoded: str, rng: random.Random, scale: int) -> LatencyHistogram:
    """The histogram's recorded values, each moved by up to ±20%, counted `scale` times over."""
    real = HdrHistogram.decode(encoded.encode("ascii"))
    varied = LatencyHistogram()
    for item in real.get_recorded_iterator():
        micros = int(item.value_iterated_to * rng.uniform(0.8, 1.2))
        varied.record_micros(micros, item.count_added_in_this_iter_step * scale)
    return varied


def varied(base: dict[str, Any], index: int, shards: int, users: int, scale: int) -> dict[str, Any]:
    """Shard `index`/`shards` of a large run, made from the real shard `base`."""
    rng = random.Random(index)
    document = json.loads(json.dumps(base))
    document["shard"].update(index=index, count=shards)
    for group in document["groups"]:
        costs = list(group["per_user"].values()) or [{"requests": 0, "bytes": 0}]
        group["per_user"] = {
            f"user{index + shards * number}": {
                key: int(value * rng.uniform(0.5, 1.5)) for key, value in rng.choice(costs).items()
            }
            for number in range(users)
        }
        for field, summary in (("histogram", "latency"), ("steady_histogram", "steady")):
            if group.get(field):
                histogram = resampled(group[field], rng, scale)
                group[field] = histogram.encode()
                group[summary] = histogram.summary().model_dump()
        for name in ("expected", "delivered", "requests", "bytes", "connect_requests"):
            group[name] = group[name] * scale
        group["clients"] = group["visible_clients"] = group["users"] = users
    return document


def write_shards(
    base: dict[str, Any], folder: Path, shards: int, users: int, scale: int
) -> list[Path]:
    paths = []
    for index in range(1, shards + 1):
        path = folder / f"shard-{index}.json"
        path.write_text(json.dumps(varied(base, index, shards, users, scale), indent=2) + "\n")
        paths.append(path)
    return paths


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def merge_times(paths: list[Path], rounds: int) -> dict[str, list[float]]:
    variants: dict[str, Callable[[], object]] = {
        "json.loads of every file (baseline)": lambda: [json.loads(p.read_text()) for p in paths],
        "load_shards (read + validate)": lambda: load_shards(paths),
        "load_shards + merge_results": lambda: merge_results(load_shards(paths)),
    }
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            times[name].append(timed(variants[name]))
    return times


def check(paths: list[Path]) -> str:
    shards = load_shards(paths)
    merged = merge_results(shards)
    for index, group in enumerate(merged.groups):
        assert group.expected == sum(s.groups[index].expected for s in shards)
        assert group.latency.count == sum(s.groups[index].latency.count for s in shards)
    return ", ".join(
        f"{g.name} {g.delivered:,}/{g.expected:,} p99 {g.latency.p99:g} ms" for g in merged.groups
    )


def metrics_cost(reps: int) -> None:
    path = HERE / "metrics_cost.py"
    if not path.is_file():
        print("metrics endpoint cost: benchmarks/metrics_cost.py is not here; skipped")
        return
    spec = importlib.util.spec_from_file_location("metrics_cost", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["metrics_cost"] = module
    spec.loader.exec_module(module)
    figures = module.measure(reps)
    print("metrics endpoint cost (benchmarks/metrics_cost.py):")
    for name, value in figures.items():
        print(f"  {name}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--users", type=int, default=1000, help="users per shard")
    parser.add_argument("--scale", type=int, default=100, help="deliveries per real delivery")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base", type=Path, help="a shard's JSON to vary (default: a real run)")
    parser.add_argument("--metrics-reps", type=int, default=3)
    parser.add_argument("--skip-metrics", action="store_true")
    args = parser.parse_args()
    base = json.loads(args.base.read_text()) if args.base else real_shard()
    BenchResult.model_validate(base)  # a wasim bench document
    with tempfile.TemporaryDirectory() as folder:
        paths = write_shards(base, Path(folder), args.shards, args.users, args.scale)
        size = sum(path.stat().st_size for path in paths)
        print(
            f"{args.shards} shard files, {size / 1e6:.1f} MB, {args.users:,} users each "
            f"({args.shards * args.users:,} users), {args.rounds} rounds interleaved"
        )
        print(f"merged: {check(paths)}")
        times = merge_times(paths, args.rounds)
    baseline = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name}: median {median:.3f} s (min {min(values):.3f}, max {max(values):.3f}); "
            f"{median / baseline:.2f}x the baseline"
        )
    if not args.skip_metrics:
        metrics_cost(args.metrics_reps)


if __name__ == "__main__":
    main()
