"""Shard I of N of a bench run (`wasim bench --shard I/N`), for load from several machines.

The users are dealt round-robin: shard I holds users I, I+N, I+2N, … (1-based), with every
client of theirs, and sends the webhooks of their conversations only. The whole schedule is
still drawn from the seed and the kept messages have the ids, texts and send times they have in
an unsharded run, so N shards together send exactly what one run would, and every latency is
measured by the machine that sent the message (one clock). `wasim report merge` adds the
shards' documents up (`wasim.bench.merge`); `ShardInfo` is what lets it refuse a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from wasim.bench.results import ShardInfo
from wasim.bench.scenario import Scenario
from wasim.errors import ConfigError

ENV = "WASIM_SHARD"
_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigError(
                f"--shard {self.index}/{self.count}: I must lie between 1 and N ({self.count})"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def users(self, everyone: list[str]) -> list[str]:
        """This shard's users, round-robin: every N-th from the I-th on."""
        return everyone[self.index - 1 :: self.count]

    def info(self, scenario: Scenario, seed: int) -> ShardInfo:
        return ShardInfo(
            index=self.index,
            count=self.count,
            scenario=scenario.name,
            seed=seed,
            scenario_hash=scenario_hash(scenario),
        )


def parse_shard(text: str) -> Shard:
    """`2/3` → Shard(2, 3); anything else is a ConfigError naming the expected form."""
    found = _FORM.match(text)
    if found is None:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 2/3 (shard 2 of 3)")
    return Shard(int(found.group(1)), int(found.group(2)))


def check_shardable(scenario: Scenario, shard: Shard) -> None:
    """Raise ConfigError when `scenario` cannot run as shard `shard`."""
    if scenario.traffic.seed is None:
        raise ConfigError(
            f"--shard {shard}: every shard must draw the same schedule: give --seed or "
            "$WASIM_SEED (the same for all shards), or [traffic] seed"
        )
    users = len(scenario.users.user_names())
    if shard.count > users:
        raise ConfigError(f"--shard {shard}: {shard.count} shards for {users} users")
    if any(fault.kind == "restart" for fault in scenario.faults):
        raise ConfigError(
            f"--shard {shard}: a restart fault cannot run sharded (every shard would "
            "restart the backend)"
        )


def scenario_hash(scenario: Scenario) -> str:
    """A digest of what a run does, whatever backend address each shard reached it by and
    whatever seed it drew (that is compared on its own)."""
    data = scenario.model_dump(mode="json")
    data["backend"].pop("url", None)
    data["backend"].pop("spawn", None)
    data["traffic"].pop("seed", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
