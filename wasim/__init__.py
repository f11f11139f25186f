"""wasim: a webhook simulator and load tool for testing real-time delivery of WhatsApp messages.

The few objects a Python user needs, importable from here (everything else may move):

- send: `PayloadFactory` builds webhook payloads, `PlanSpec` and `build_plan` sign a schedule
  of POSTs, `send_plan(Target(...), plan)` fires it on an open-model schedule (`SendReport`);
  `retry_profile(name, time_scale)` makes it (or `run_bench`) retry failed POSTs like Meta.
- listen: `run_listen(ListenOptions(...), emit)` holds listeners and returns a `Summary`;
  `make_listener(kind, ListenerConfig(...))` is one client behind the transports' interface.
- bench: `load_scenario(name_or_path)` or `Scenario.model_validate(...)`, then
  `run_bench(scenario)` gives a `BenchResult` (pydantic; `.document()` is its JSON);
  `run_bench(scenario, shard=Shard(2, 3))` runs one shard of it, and
  `merge_results(load_shards(paths))` makes the whole run's result from the shards'.
- probe: `run_probe(ProbeOptions(url=...))` learns a backend and `scenario_text(report)` writes
  its scenario.
- serve: `create_app(Settings(...))` is the bundled backend as an ASGI app.
- correlate: `Matcher` finds sent ids and text markers in anything a backend sends.

Errors are `WasimError` and its subclasses (`wasim.errors`). Imports are lazy, so `import
wasim` stays cheap for child processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "PayloadFactory": "wasim.payloads",
    "PlanSpec": "wasim.send",
    "build_plan": "wasim.send",
    "send_plan": "wasim.send",
    "retry_profile": "wasim.send",
    "Target": "wasim.send",
    "SendReport": "wasim.send",
    "ListenOptions": "wasim.listen",
    "Credential": "wasim.listen",
    "Summary": "wasim.listen",
    "make_listener": "wasim.transports",
    "ListenerConfig": "wasim.transports",
    "Scenario": "wasim.bench",
    "run_bench": "wasim.bench",
    "BenchResult": "wasim.bench",
    "merge_results": "wasim.bench",
    "Shard": "wasim.bench",
    "load_shards": "wasim.bench",
    "ProbeOptions": "wasim.probe",
    "scenario_text": "wasim.probe",
    "Matcher": "wasim.correlate",
    "WasimError": "wasim.errors",
    "create_app": "mock_backend",
    "Settings": "mock_backend",
}
# Functions named like their subpackage get another name here: `wasim.listen` is the package.
_RENAMED = {
    "load_scenario": ("wasim.bench", "load"),
    "run_listen": ("wasim.listen", "listen"),
    "run_probe": ("wasim.probe", "probe"),
}

__all__ = [
    "BenchResult",
    "Credential",
    "ListenOptions",
    "ListenerConfig",
    "Matcher",
    "PayloadFactory",
    "PlanSpec",
    "ProbeOptions",
    "Scenario",
    "SendReport",
    "Settings",
    "Shard",
    "Summary",
    "Target",
    "WasimError",
    "__version__",
    "build_plan",
    "create_app",
    "load_scenario",
    "load_shards",
    "make_listener",
    "merge_results",
    "retry_profile",
    "run_bench",
    "run_listen",
    "run_probe",
    "scenario_text",
    "send_plan",
]

if TYPE_CHECKING:
    from mock_backend import Settings, create_app
    from wasim.bench import BenchResult, Scenario, Shard, load_shards, merge_results, run_bench
    from wasim.bench import load as load_scenario
    from wasim.correlate import Matcher
    from wasim.errors import WasimError
    from wasim.listen import Credential, ListenOptions, Summary
    from wasim.listen import listen as run_listen
    from wasim.payloads import PayloadFactory
    from wasim.probe import ProbeOptions, scenario_text
    from wasim.probe import probe as run_probe
    from wasim.send import PlanSpec, SendReport, Target, build_plan, retry_profile, send_plan
    from wasim.transports import ListenerConfig, make_listener


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _RENAMED:
        module, attribute = _RENAMED[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'wasim' has no attribute {name!r}")
