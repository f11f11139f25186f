"""The report's main chart, every client kind's latency CDF on a log time axis, as a PNG for
pull-request comments.

matplotlib draws it (the `png` extra): the maintained standard for static plots, with log axes
and a headless Agg renderer, so no browser is needed; the curves are the HTML report's
(`html.cdf`), sampled from the same histograms.
"""

from __future__ import annotations

from pathlib import Path

from wasim.bench.html import cdf, colour, log_range
from wasim.bench.matrix import duration
from wasim.bench.results import BenchResult
from wasim.errors import ConfigError

NEEDS = "--png needs matplotlib: pip install 'wasim[png]'"


def check_available() -> None:
    """Fail before a run whose PNG could not be drawn at its end."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError(NEEDS) from None


def write_png(result: BenchResult, path: Path) -> None:
    """Draw the latency CDF of `result` into `path` (PNG, 1200×600)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise ConfigError(NEEDS) from None
    figure, axes = pyplot.subplots(figsize=(10, 5), dpi=120)
    try:
        values = []
        for index, group in enumerate(result.groups):
            points = cdf(group)
            if not points:
                continue
            values += [ms for ms, _ in points]
            p50, p99 = group.latency.p50, group.latency.p99
            axes.step(
                [ms for ms, _ in points],
                [p for _, p in points],
                where="post",
                color=colour(index),
                linewidth=2,
                label=f"{group.name}: p50 {duration(p50)}, p99 {duration(p99)}",
            )
        axes.set_xscale("log")
        axes.set_xlim(*log_range(values))
        axes.set_ylim(0, 100)
        axes.xaxis.set_major_formatter(
            FuncFormatter(lambda ms, _: f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms")
        )
        axes.set_xlabel("webhook to client (log scale)")
        axes.set_ylabel("deliveries at or under it (%)")
        verdict = "PASS" if result.passed else "FAIL"
        axes.set_title(f"wasim bench {result.scenario}: {verdict}, latency by client kind")
        axes.grid(True, which="major", color="#ddd")
        if values:
            axes.legend(loc="lower right", fontsize=8)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", bbox_inches="tight")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        pyplot.close(figure)
