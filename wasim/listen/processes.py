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
from typing import Any

from pydantic import TypeAdapter

from wasim.errors import TargetError, WasimError
from wasim.listen.runner import Emit, ListenOptions, listen, stopping_on_signals
from wasim.listen.summary import Summary
from wasim.workers import Child, spawn_child

_WIRE: TypeAdapter[ListenOptions] = TypeAdapter(ListenOptions)  # a child's share, as JSON


def encode_options(options: ListenOptions) -> dict[str, Any]:
    return _WIRE.dump_python(options, mode="json")  # type: ignore[no-any-return]


def decode_options(spec: dict[str, Any]) -> ListenOptions:
    return _WIRE.validate_python(spec)


def shares(options: ListenOptions, processes: int) -> list[ListenOptions]:
    """Deal the run's listeners round-robin to `processes` children, each ramping its part."""
    everyone = list(options.assignments())
    ramp = options.ramp / processes if options.ramp else None
    return [
        replace(
            options,
            credentials=tuple(everyone[n::processes]),
            per_user=1,
            ramp=ramp,
            lean_above=options.lean_above // processes,
        )
        for n in range(processes)
        if everyone[n::processes]
    ]


async def listen_spread(
    options: ListenOptions,
    emit: Emit,
    processes: int,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> Summary:
    """Like `listen`, over `processes` child processes (one means: in this process)."""
    options.check()
    if processes <= 1:
        return await listen(options, emit, stop, handle_signals)
    stop = stop or asyncio.Event()
    parts = shares(options, processes)
    with stopping_on_signals(stop) if handle_signals else contextlib.nullcontext():
        merged = _Merger(len(parts), emit)
        children = [
            _Listener(await spawn_child("wasim.listen.child", encode_options(part)), merged)
            for part in parts
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
    def __init__(self, process: asyncio.subprocess.Process, merger: _Merger) -> None:
        self.merger = merger
        super().__init__(process, "a listener process")

    def take(self, kind: str, record: dict[str, Any]) -> None:
        self.merger.take(kind, record)


class _Merger:
    """Forwards children's records, announces `ready` once all are, and adds up summaries."""

    def __init__(self, children: int, emit: Emit) -> None:
        self.children = children
        self.emit = emit
        self.ready: list[dict[str, Any]] = []
        self.summaries: list[Summary] = []

    def take(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "summary":
            self.summaries.append(Summary.model_validate(record))
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
