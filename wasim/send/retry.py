"""Retry profiles: when Meta tries a webhook again after a non-200 answer or a timeout."""

from __future__ import annotations

from dataclasses import dataclass

from wasim.errors import ConfigError

_HOUR = 3600.0
# Meta publishes no schedule, only "decreasing frequency for up to 7 days" (reference §5):
# quick retries first, then hours apart, the last ones about a day apart.
_DELAYS: dict[str, tuple[float, ...]] = {
    "none": (),
    "fast": (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),  # 8 attempts in all
    "meta": (0.0, 15.0, 60.0, 300.0, 900.0, 1800.0, *(h * _HOUR for h in (1, 2, 4, 8, 12, 20)))
    + (24 * _HOUR,) * 5,
}


@dataclass(frozen=True)
class RetryProfile:
    """Delays (seconds) before each retry, already divided by the time scale."""

    name: str
    delays: tuple[float, ...]

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.delays)


def retry_profile(name: str, time_scale: float = 1.0) -> RetryProfile:
    """`none`, `fast` (1, 2, 4 … s, 8 attempts) or `meta` (7 days); `time_scale` speeds it up."""
    if time_scale <= 0:
        raise ConfigError("--time-scale must be greater than 0")
    if name not in _DELAYS:
        raise ConfigError(f"unknown retry profile {name!r}; one of: {', '.join(_DELAYS)}")
    return RetryProfile(name, tuple(delay / time_scale for delay in _DELAYS[name]))
