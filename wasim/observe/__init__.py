"""Live metrics of a bench or listen run, for the monitoring a team already has.

`Metrics` takes the run's live figures (the `LiveSnapshot` that `wasim bench --live` shows,
merged over every listener process once a second) and serves them on a Prometheus endpoint
(`--metrics-port`), pushes them to an OpenTelemetry collector over OTLP/HTTP
(`--otlp-endpoint`), or both. `figures` names them, `prometheus` and `otlp` carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from wasim.observe.figures import Figure, figures, run_figures
from wasim.observe.otlp import Pusher
from wasim.observe.prometheus import Endpoint, FiguresCollector

if TYPE_CHECKING:
    from wasim.bench.live import LiveSnapshot
    from wasim.bench.runner import Progress

Command = Literal["bench", "listen"]

__all__ = ["Command", "Figure", "Metrics"]


class Metrics:
    """The run's metrics on `host:port` (0: a free port; None: no endpoint) and/or pushed to
    `otlp_endpoint` every `otlp_interval` seconds, from `__enter__` to `__exit__` (which
    pushes the last figures). `labels` go on every point (e.g. `{"shard": "2/3"}`)."""

    def __init__(
        self,
        command: Command = "bench",
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        otlp_endpoint: str | None = None,
        otlp_interval: float = 5.0,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.labels = dict(labels or {})
        self.phase = "starting"
        self.posts = self.planned = 0
        self.collector = FiguresCollector()
        self._port, self._host = port, host
        self.endpoint: Endpoint | None = None
        self._groups: list[Figure] = []
        resource = {"service.name": f"wasim-{command}", **self.labels}
        self.pusher = (
            Pusher(otlp_endpoint, otlp_interval, self.read, resource) if otlp_endpoint else None
        )

    @property
    def url(self) -> str | None:
        """The Prometheus endpoint's address, once started."""
        return self.endpoint.url if self.endpoint is not None else None

    def __enter__(self) -> Metrics:
        if self._port is not None:
            self.endpoint = Endpoint(self.collector, self._host, self._port)
        self.collector.show(self.read())
        if self.pusher is not None:
            self.pusher.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.pusher is not None:
                self.pusher.close()
        finally:
            if self.endpoint is not None:
                self.endpoint.close()

    def update(self, snapshot: LiveSnapshot) -> None:
        """The figures of one reading (bench's `on_live`, listen's `on_figures`)."""
        self._groups = figures(snapshot, self.labels, bench=self.command == "bench")
        self.phase, self.posts, self.planned = snapshot.phase, snapshot.posts, snapshot.planned
        self.collector.show(self.read())

    def progress(self, phase: str, posts: int = 0, planned: int = 0) -> None:
        """The run's phase and webhooks sent so far; cheap enough to call on every tick."""
        if (phase, posts, planned) != (self.phase, self.posts, self.planned):
            self.phase, self.posts, self.planned = phase, posts, planned
            self.collector.show(self.read())

    def bench_progress(self, state: Progress) -> None:
        """`run_bench`'s progress callback: the phase from setup to the end."""
        self.progress(state.phase, state.sent, state.planned)

    def read(self) -> list[Figure]:
        """Every figure now (from any thread)."""
        sends = self.command == "bench"
        return [
            *self._groups,
            *run_figures(self.phase, self.posts if sends else None, self.planned, self.labels),
        ]
