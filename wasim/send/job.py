"""One `wasim send` invocation as a library call: parse, plan, print/record, send, judge."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wasim.errors import ConfigError
from wasim.ledger import LedgerWriter
from wasim.payloads import STATUS_KINDS, Shape
from wasim.payloads.model import ContextKind
from wasim.send.encoding import SignMode, Style, signature
from wasim.send.expect import parse_expect, verdict
from wasim.send.fleet import send_split
from wasim.send.options import check_sets, parse_sets
from wasim.send.plan import Delivery, PlanSpec, Recipe, check, parse_mix
from wasim.send.record import Recorder, replayed
from wasim.send.report import SendReport
from wasim.send.retry import retry_profile
from wasim.send.sender import OnProgress, OnResult, Target, raise_if_unreachable, send_plan
from wasim.units import parse_duration, parse_rate

__all__ = [
    "JobOutcome",
    "SendJob",
    "from_named",
    "plan_of",
    "recipe_of",
    "run_job",
]

T = TypeVar("T")


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
    failed_contacts: bool = False  # `failed` statuses also carry `contacts`
    locales: Sequence[str] = ()
    style: Style = "meta"
    sign_mode: SignMode = "valid"
    expect: str = "2xx"  # the answers that count as success (--expect)
    print_only: bool = False
    record_to: Path | None = None
    replay: Path | None = None
    ledger: Path | None = None  # where to note each POST's ids and times (wasim.ledger)


def from_named(cls: Callable[..., T], values: Mapping[str, Any], **given: Any) -> T:
    """A `cls` made of `given`, and of the `values` named like its other parameters (a
    command's options, a job's fields): each option is then written once, in `cls`."""
    known = inspect.signature(cls).parameters
    return cls(**{**{k: v for k, v in values.items() if k in known}, **given})


@dataclass
class JobOutcome:
    """A report when something was sent; the planned POSTs when only printing.

    `problem` is one line when the answers were not the ones expected (the CLI exits 1);
    `interrupted` when Ctrl-C cut the run short (the report holds what was sent until then).
    """

    report: SendReport | None
    printed: list[Delivery]
    endpoint: str
    recorded: int = 0
    problem: str | None = None
    interrupted: bool = False


def recipe_of(job: SendJob) -> Recipe:
    """The plan `job` describes, as ingredients (see `Recipe`); raises ConfigError."""
    rate = parse_rate(job.rate, "--rate")
    if job.count is not None and job.duration is not None:
        raise ConfigError("give --count or --duration, not both")
    if job.count is not None and job.count < 1:
        raise ConfigError(f"--count {job.count}: send at least 1 POST (or --print to send none)")
    count = job.count or 1
    if job.duration is not None:
        seconds = parse_duration(job.duration, "--duration")
        if seconds <= 0:
            raise ConfigError("--duration must be longer than 0 s")
        count = max(1, math.ceil(seconds * rate))
    overrides = parse_sets(job.sets)
    kind = job.kind or ("text" if job.mix is None else None)
    if kind == "status":
        if job.status not in STATUS_KINDS:
            raise ConfigError(f"wasim send status needs one of: {', '.join(STATUS_KINDS)}")
        kind = job.status
    mix = parse_mix(job.mix) if job.mix else parse_mix(kind or "text")
    if job.body is not None:
        overrides.setdefault(_body_path(kind), job.body)
    if job.wamid is not None:
        overrides.setdefault("id", job.wamid)
    check_sets(overrides, mix, job.shape)
    spec = from_named(
        PlanSpec,
        vars(job),
        mix=mix,
        count=count,
        rate=rate,
        phones=[job.from_phone] if job.from_phone else list(job.phones),
        overrides=overrides,
    )
    check(spec)
    names = ((job.from_phone, job.name),) if job.from_phone and job.name else ()
    return from_named(
        Recipe,
        vars(job),
        spec=spec,
        secret=job.target.app_secret,
        locales=tuple(job.locales),
        markers=job.marker,
        names=names,
    )


def plan_of(job: SendJob) -> list[Delivery]:
    """Every POST `job` sends, from all its processes, in order of scheduled start."""
    if job.replay is not None:
        return list(_replay(job))
    shares = [share.deliveries() for share in recipe_of(job).split(job.processes)]
    return sorted(itertools.chain(*shares), key=lambda d: d.at)


def _replay(job: SendJob) -> Iterator[Delivery]:
    rate = parse_rate(job.rate, "--rate")
    return replayed(job.replay or Path(), rate if job.rate != SendJob.rate else None)


async def run_job(
    job: SendJob,
    *,
    on_plan: Callable[[int], None] | None = None,
    on_result: OnResult | None = None,
    on_progress: OnProgress | None = None,
) -> JobOutcome:
    """Plan, then print, record and/or send, and judge the answers; raise WasimError on
    anything unusable.

    The POSTs are built as they are sent (or recorded), so memory stays flat at any rate and
    duration. With `processes` > 1 the POSTs go out from that many processes, each building its
    own share; `on_result` is then not called (results stay in the children), `on_progress`
    still is. With `ledger`, every POST's ids and times are appended there (each process its
    own lines). Cancelled (Ctrl-C), it returns what was sent until then, marked interrupted.
    """
    endpoint = job.target.endpoint
    retry = retry_profile(job.retry, job.time_scale)
    expect = parse_expect(job.expect)
    if job.processes < 1 or job.concurrency < 1:
        raise ConfigError("--processes and --concurrency must be at least 1")
    recipe = recipe_of(job) if job.replay is None else None
    if job.print_only:
        printed = _printed(job, recipe)
        return JobOutcome(None, printed, endpoint, len(printed) if job.record_to else 0)
    recorder = Recorder(job.record_to) if job.record_to is not None else None
    plan: Iterable[Delivery] | Recipe = _replay(job) if recipe is None else recipe
    planned = recipe.spec.count if recipe is not None else None
    if recorder is not None and job.processes == 1:  # recorded here as it is built and sent
        plan = recorder.through(plan.deliveries() if isinstance(plan, Recipe) else plan)
    elif recorder is not None:  # several processes: built here, recorded, then dealt
        plan = list(recorder.through(plan_of(job)))
    if on_plan is not None:
        on_plan(len(plan) if isinstance(plan, list) else planned or 0)
    ledger = LedgerWriter(job.ledger) if job.ledger is not None else None
    report = SendReport()
    interrupted = False
    try:
        if job.processes > 1:
            await send_split(
                job.target,
                plan if isinstance(plan, (list, Recipe)) else list(plan),
                job.processes,
                concurrency=job.concurrency,
                retry=retry,
                on_progress=on_progress,
                ledger=job.ledger,
                report=report,
            )
        else:
            await send_plan(
                job.target,
                plan,
                concurrency=job.concurrency,
                retry=retry,
                on_result=on_result,
                on_progress=on_progress,
                ledger=ledger,
                report=report,
                planned=planned,
            )
    except asyncio.CancelledError:
        interrupted = report.interrupted = True
    finally:
        if ledger is not None:
            ledger.close()
        if recorder is not None:
            recorder.close()
    recorded = recorder.count if recorder is not None else 0
    if interrupted:
        return JobOutcome(report, [], endpoint, recorded, interrupted=True)
    raise_if_unreachable(report, job.target)
    problem = verdict(report, expect, endpoint, job.sign_mode, job.target.timeout)
    return JobOutcome(report, [], endpoint, recorded, problem)


def _printed(job: SendJob, recipe: Recipe | None) -> list[Delivery]:
    plan = plan_of(job) if recipe is None or job.processes > 1 else list(recipe.deliveries())
    if job.record_to is not None:
        with Recorder(job.record_to) as recorder:
            plan = list(recorder.through(plan))
    return plan


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
    # A caption is optional (drawn 60% of the time): --body creates it.
    if kind in ("image", "video", "document"):
        return f"+{kind}.caption"
    if kind in (None, "text"):
        return "text.body"
    raise ConfigError(f"--body applies to text and media captions, not to {kind!r}; use --set")
