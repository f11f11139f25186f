"""`wasim bench`: polling versus push, measured end to end against a scenario.

`load(name_or_path)` reads a scenario; `run_bench(scenario)` runs it and returns a
`BenchResult`; `write_reports` and `render_result` turn that into files and terminal output.
`run_bench(scenario, shard=Shard(2, 3))` runs one shard; `merge_results(load_shards(paths))`
makes the whole run's result from its shards'.
"""

from wasim.bench.loader import load, loads
from wasim.bench.merge import load_shards, merge_results
from wasim.bench.render import render_result
from wasim.bench.reports import write_reports
from wasim.bench.results import BenchResult
from wasim.bench.runner import Progress, run_bench
from wasim.bench.scenario import Scenario
from wasim.bench.shard import Shard

__all__ = [
    "BenchResult",
    "Progress",
    "Scenario",
    "Shard",
    "load",
    "load_shards",
    "loads",
    "merge_results",
    "render_result",
    "run_bench",
    "write_reports",
]
