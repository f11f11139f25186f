"""One `wasim send` invocation as a library call: parse, plan, print/record, send, report."""

from __future__ import annotations

import asyncio
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasim.errors import ConfigError
from wasim.ledger import LedgerWriter
from wasim.payloads import STATUS_KINDS, PayloadFactory, Shape
from wasim.payloads.factory import ContextKind
from wasim.send.encoding import SignMode, Style, signature
from wasim.send.fleet import send_split
from wasim.send.plan import Delivery, PlanSpec, build_plan, parse_mix
from wasim.send.record import load, record
from wasim.send.report import SendReport
from wasim.send.retry import retry_profile
from wasim.send.sender import OnProgress, OnResult, Target, raise_if_unreachable, send_plan

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|m|min|h))?\s*$")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600}
_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """`200/s`, `600/min`, `50` → POSTs per second."""
    match = _RATE.match(text)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"--rate {text!r} is not a rate like 200/s")
    return float(match[1]) * _PER_SECOND[match[2]]


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `500ms`, `10` → seconds."""
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"--duration {text!r} is not a duration like 30s")
    return float(match[1]) * _SECONDS[match[2]]


def parse_sets(items: Sequence[str]) -> dict[str, object]:
    """`PATH=VALUE` pairs; VALUE is JSON when it parses (numbers, true, null), else text."""
    sets: dict[str, object] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {item!r} must look like path.to.field=value")
        try:
            sets[path] = json.loads(raw)
        except ValueError:
            sets[path] = raw
    return sets


@dataclass(frozen=True)
class SendJob:
    """Everything `wasim send` was asked to do, as given on the command line."""

    target: Target = field(default_factory=Target)
    kind: str | None = None
    status: str | None = None
    mix: str | None = None
    body: str | None = None
    from_phone: str | None = None
    name: str | None = None
    wamid: str | None = None
    sets: Sequence[str] = ()
    phones: Sequence[str] = ()
    context: ContextKind | None = None
    referral: bool = False
    rate: str = "10/s"
    count: int | None = None
    duration: str | None = None
    batch: int = 1
    duplicates: float = 0.0
    reorder: float = 0.0
    concurrency: int = 256
    processes: int = 1
    retry: str = "none"
    time_scale: float = 1.0
    seed: int | None = None
    marker: bool = False  # texts and captions carry a marker that listen can find
    shape: Shape = "current"
    locales: Sequence[str] = ()
    style: Style = "meta"
    sign_mode: SignMode = "valid"
    print_only: bool = False
    record_to: Path | None = None
    replay: Path | None = None
    ledger: Path | None = None  # where to note each POST's ids and times (wasim.ledger)


@dataclass
class JobOutcome:
    """A report when something was sent; the planned POSTs when only printing."""

    report: SendReport | None
    printed: list[Delivery]
    endpoint: str
    recorded: int = 0


def plan_of(job: SendJob) -> list[Delivery]:
    """The POSTs `job` describes, built and signed ahead of the schedule."""
    rate = parse_rate(job.rate)
    if job.replay is not None:
        return load(job.replay, rate if job.rate != SendJob.rate else None)
    count = job.count or 1
    if job.duration is not None:
        count = max(1, math.ceil(parse_duration(job.duration) * rate))
    overrides = parse_sets(job.sets)
    kind = job.kind or ("text" if job.mix is None else None)
    if kind == "status":
        if job.status not in STATUS_KINDS:
            raise ConfigError(f"wasim send status needs one of: {', '.join(STATUS_KINDS)}")
        kind = job.status
    if job.body is not None:
        overrides.setdefault(_body_path(kind), job.body)
    if job.wamid is not None:
        overrides.setdefault("id", job.wamid)
    phones = [job.from_phone] if job.from_phone else list(job.phones)
    factory = PayloadFactory(job.seed, job.shape, list(job.locales) or None, markers=job.marker)
    if job.from_phone and job.name:
        factory.contact(job.from_phone, job.name)
    spec = PlanSpec(
        mix=parse_mix(job.mix) if job.mix else {kind or "text": 1.0},
        count=count,
        rate=rate,
        batch=job.batch,
        duplicates=job.duplicates,
        reorder=job.reorder,
        phones=phones,
        style=job.style,
        sign_mode=job.sign_mode,
        overrides=overrides,
        context=job.context,
        referral=job.referral,
    )
    return build_plan(factory, spec, job.target.app_secret)


async def run_job(
    job: SendJob,
    *,
    on_plan: Callable[[int], None] | None = None,
    on_result: OnResult | None = None,
    on_progress: OnProgress | None = None,
    stop: asyncio.Event | None = None,
) -> JobOutcome:
    """Plan, then print, record and/or send; raise WasimError on anything unusable.

    With `processes` > 1 the POSTs go out from that many processes; `on_result` is then not
    called (results stay in the children), `on_progress` still is. With `ledger`, every POST's
    ids and times are appended there (each process its own lines). Setting `stop` ends the
    sending early with the report of what was sent.
    """
    endpoint = job.target.endpoint
    retry = retry_profile(job.retry, job.time_scale)
    if job.processes < 1 or job.concurrency < 1:
        raise ConfigError("--processes and --concurrency must be at least 1")
    plan = plan_of(job)
    recorded = record(plan, job.record_to) if job.record_to is not None else 0
    if job.print_only:
        return JobOutcome(None, plan, endpoint, recorded)
    if on_plan is not None:
        on_plan(len(plan))
    ledger = LedgerWriter(job.ledger) if job.ledger is not None else None
    try:
        if job.processes > 1:
            report = await send_split(
                job.target,
                plan,
                job.processes,
                concurrency=job.concurrency,
                retry=retry,
                on_progress=on_progress,
                ledger=job.ledger,
                stop=stop,
            )
        else:
            report = await send_plan(
                job.target,
                plan,
                concurrency=job.concurrency,
                retry=retry,
                on_result=on_result,
                on_progress=on_progress,
                ledger=ledger,
                stop=stop,
            )
    finally:
        if ledger is not None:
            ledger.close()
    raise_if_unreachable(report, job.target)
    return JobOutcome(report, [], endpoint, recorded)


def curl_command(endpoint: str, delivery: Delivery) -> str:
    """A ready-to-paste curl that POSTs the same bytes with the same headers."""
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(endpoint)]
    for name, value in delivery.headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(delivery.body.decode("utf-8", "replace"))]
    return " ".join(parts)


def printable(endpoint: str, delivery: Delivery) -> dict[str, Any]:
    return {
        "url": endpoint,
        "headers": dict(delivery.headers),
        "body": delivery.body.decode("utf-8", "replace"),
        "curl": curl_command(endpoint, delivery),
    }


async def sign_source(source: Path | None, secret: str) -> str:
    """The X-Hub-Signature-256 value for a file's bytes, or stdin's when `source` is None."""
    if source is None:
        body = sys.stdin.buffer.read()
    else:
        try:
            body = source.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    return signature(body, secret)


def _body_path(kind: str | None) -> str:
    if kind in ("image", "video", "document"):
        return f"{kind}.caption"
    if kind in (None, "text"):
        return "text.body"
    raise ConfigError(f"--body applies to text and media captions, not to {kind!r}; use --set")
