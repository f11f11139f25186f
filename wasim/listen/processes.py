"""Spreading listeners over processes: children report NDJSON on a pipe, the parent merges.

Each child runs `python -m wasim.listen.child`, reads its share of the run as JSON on stdin and
writes the same records `wasim listen --json` prints, ending with its `summary` (the pipe is
wasim.workers').
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from wasim.errors import TargetError, WasimError
from wasim.listen.runner import Emit, ListenOptions, listen, stopping_on_signals
from wasim.listen.summary import Summary
from wasim.workers import Child, spawn_child

_WIRE: TypeAdapter[ListenOptions] = TypeAdapter(ListenOptions)  # a child's share, as JSON

if TYPE_CHECKING:
    from wasim.listen.figures import Gatherer, OnFigures


def encode_options(options: ListenOptions) -> dict[str, Any]:
    return _WIRE.dump_python(options, mode="json")  # type: ignore[no-any-return]


def decode_options(spec: dict[str, Any]) -> ListenOptions:
    return _WIRE.validate_python(spec)


def shares(options: ListenOptions, processes: int) -> list[ListenOptions]:
    """Deal the run's listeners round-robin to `processes` children, each ramping its part."""
    everyone = list(options.assignments())
    ramp = options.ramp / processes if options.ramp else None
    parts = [everyone[n::processes] for n in range(processes) if everyone[n::processes]]
    return [
        replace(
            options,
            credentials=tuple(part),
            per_user=1,
            ramp=ramp,
            lean_above=options.lean_above // processes,
            process=f"{n}/{len(parts)}",
        )
        for n, part in enumerate(parts, start=1)
    ]


async def listen_spread(
    options: ListenOptions,
    emit: Emit,
    processes: int,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
    on_figures: OnFigures | None = None,
) -> Summary:
    """Like `listen`, over `processes` child processes (one means: in this process).

    `on_figures` gets the live figures of every process, merged, once a second.
    """
    options.check()
    if processes <= 1:
        if on_figures is None:
            return await listen(options, emit, stop, handle_signals)
        gatherer = _gatherer(on_figures, 1)
        return await listen(
            options, gatherer.watch(emit), stop, handle_signals, lambda s: gatherer.take(0, s)
        )
    stop = stop or asyncio.Event()
    parts = shares(options, processes)
    if on_figures is not None:
        parts = [replace(part, figures=True) for part in parts]
    with stopping_on_signals(stop) if handle_signals else contextlib.nullcontext():
        merged = _Merger(len(parts), emit, on_figures)
        children = [
            _Listener(await spawn_child("wasim.listen.child", encode_options(part)), merged, number)
            for number, part in enumerate(parts)
        ]
        everyone = asyncio.create_task(_all([child.reader for child in children]))
        stopper = asyncio.create_task(_all([stop.wait()]))
        await asyncio.wait({everyone, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper.done():
            for child in children:
                if child.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGINT)
        stopper.cancel()
        await everyone
    return merged.result([child.error for child in children if child.error is not None])


async def _all(waits: list[Any]) -> None:
    await asyncio.gather(*waits)


class _Listener(Child):
    def __init__(self, process: asyncio.subprocess.Process, merger: _Merger, number: int) -> None:
        self.merger = merger
        self.number = number
        super().__init__(process, "a listener process")

    def take(self, kind: str, record: dict[str, Any]) -> None:
        self.merger.take(kind, record, self.number)


def _gatherer(on_figures: OnFigures, children: int) -> Gatherer:
    from wasim.listen.figures import Gatherer  # imports wasim.bench: only when asked

    return Gatherer(on_figures, children)


class _Merger:
    """Forwards children's records, announces `ready` once all are, adds up summaries, and
    merges the children's live figures (`on_figures`)."""

    def __init__(self, children: int, emit: Emit, on_figures: OnFigures | None = None) -> None:
        self.children = children
        self.gatherer = _gatherer(on_figures, children) if on_figures is not None else None
        self.emit = self.gatherer.watch(emit) if self.gatherer is not None else emit
        self.ready: list[dict[str, Any]] = []
        self.summaries: list[Summary] = []

    def take(self, kind: str, record: dict[str, Any], child: int = 0) -> None:
        if kind == "summary":
            self.summaries.append(Summary.model_validate(record))
        elif kind == "figures":
            if self.gatherer is not None:
                self.gatherer.take(child, record)
        elif kind == "ready":
            self.ready.append(record)
            if len(self.ready) == self.children:
                self.emit(
                    {
                        "type": "ready",
                        "at": record["at"],
                        "requested": sum(r["requested"] for r in self.ready),
                        "connected": sum(r["connected"] for r in self.ready),
                        "failed": sum(r["failed"] for r in self.ready),
                        "seconds": max(r.get("seconds", 0.0) for r in self.ready),
                        "rss_before": sum(r.get("rss_before", 0) for r in self.ready),
                        "rss": sum(r.get("rss", 0) for r in self.ready),
                        "failures": dict(
                            sum((Counter(r.get("failures", {})) for r in self.ready), Counter())
                        ),
                    }
                )
        else:
            self.emit({"type": kind, **record})

    def result(self, errors: list[WasimError]) -> Summary:
        total = Summary()
        for summary in self.summaries:
            total.merge(summary)
        if total.connected == 0 and errors:
            raise errors[0]
        if len(self.summaries) < self.children and not errors:
            raise TargetError("a listener process died without a summary")
        return total
