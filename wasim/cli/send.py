"""`wasim send` (signed webhooks like Meta's), `wasim sign` (offline) and `wasim verify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wasim import defaults
from wasim.cli._app import Command, app, console, err_console, fail, run
from wasim.cli.options import AppSecret, AsJson, Ledger, NoLedger, VerifyToken
from wasim.ledger import ledger_path
from wasim.payloads.kinds import help_text
from wasim.send.job import JobOutcome, SendJob, from_named, printable, run_job, sign_source
from wasim.send.report import GUIDANCE_MEDIAN_MS, IDS_KEPT, SendReport
from wasim.send.sender import Target
from wasim.send.verify import VerifyResult, verify
from wasim.stats import LatencySummary


@app.command("send", cls=Command)
def send_command(
    kind: Annotated[
        str | None,
        typer.Argument(
            help=f"What to send (default text). {help_text()}. Each kind's Meta field and "
            "source: docs/contract.md.",
            show_default=False,
        ),
    ] = None,
    status: Annotated[
        str | None, typer.Argument(help="With `status`: sent, delivered, read, failed or played.")
    ] = None,
    body: Annotated[
        str | None, typer.Option(help="Text body, or caption of a media message.")
    ] = None,
    from_phone: Annotated[
        str | None, typer.Option("--from", help="Sender (or status recipient) phone, digits only.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Sender's profile name.")] = None,
    wamid: Annotated[str | None, typer.Option("--id", help="Message id (wamid.…) to use.")] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change a field the payload has: path.to.field=value (JSON or text); "
            "+path.to.field=value adds a new one.",
        ),
    ] = None,
    mix: Annotated[
        str | None, typer.Option(help="Weighted kinds: text=70,image=10,status=20.")
    ] = None,
    phones: Annotated[
        str | None, typer.Option(help="Comma-separated contact phones to send from.")
    ] = None,
    reply: Annotated[bool, typer.Option(help="Add a reply context.")] = False,
    forwarded: Annotated[bool, typer.Option(help="Mark messages as forwarded.")] = False,
    referral: Annotated[bool, typer.Option(help="Add a click-to-WhatsApp ad referral.")] = False,
    rate: Annotated[str, typer.Option(help="Open-model rate, e.g. 200/s or 600/min.")] = "10/s",
    count: Annotated[
        int | None,
        typer.Option(help="Number of POSTs (default 1); a lifecycle or call is always sent whole."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Send for this long at --rate, e.g. 30s (not with --count).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Updates per POST.")] = 1,
    duplicates: Annotated[float, typer.Option(help="Probability of a duplicate delivery.")] = 0.0,
    reorder: Annotated[float, typer.Option(help="Probability of swapping neighbours.")] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Cap on POSTs in flight (per process).")] = 256,
    processes: Annotated[
        int, typer.Option(help="Send from this many processes (one core each), one schedule.")
    ] = 1,
    retry: Annotated[str, typer.Option(help="Retry profile: none, fast or meta.")] = "none",
    time_scale: Annotated[float, typer.Option(help="Divide retry delays by this.")] = 1.0,
    timeout: Annotated[
        float, typer.Option(help="Seconds before a POST counts as timed out.")
    ] = 10.0,
    seed: Annotated[int | None, typer.Option(help="Seed for byte-identical payloads.")] = None,
    marker: Annotated[
        bool,
        typer.Option(
            help="End each text and caption with a short marker (#K7QF2M) that `wasim listen` "
            "finds, for backends that pass on only the text."
        ),
    ] = False,
    shape: Annotated[str, typer.Option(help="Payload shape: current or pre2026.")] = "current",
    failed_contacts: Annotated[
        bool,
        typer.Option(
            help="`failed` statuses also carry `contacts` (default: recipient_user_id only)."
        ),
    ] = False,
    locale: Annotated[list[str] | None, typer.Option(help="Faker locale(s) for people.")] = None,
    style: Annotated[str, typer.Option(help="Body bytes: meta or plain JSON.")] = "meta",
    bad_secret: Annotated[bool, typer.Option(help="Sign with a wrong secret.")] = False,
    no_signature: Annotated[
        bool, typer.Option("--no-signature", help="Send no signature header.")
    ] = False,
    tamper: Annotated[bool, typer.Option(help="Change the body after signing.")] = False,
    print_only: Annotated[
        bool, typer.Option("--print", help="Print body, headers and curl; send nothing.")
    ] = False,
    record_to: Annotated[Path | None, typer.Option("--record", help="Save POSTs (JSONL).")] = None,
    replay: Annotated[Path | None, typer.Option(help="Re-send a --record file's bytes.")] = None,
    ledger: Ledger = None,
    no_ledger: NoLedger = False,
    url: Annotated[
        str, typer.Option(help="Target: a base URL, or the whole webhook URL (its path is used).")
    ] = defaults.BASE_URL,
    path: Annotated[
        str | None,
        typer.Option(
            help=f"Webhook path, replacing the URL's (default: the URL's own, else "
            f"{defaults.WEBHOOK_PATH})."
        ),
    ] = None,
    expect: Annotated[
        str,
        typer.Option(
            help="Answers that count as success: a code or class, e.g. 401 or 4xx for a refusal "
            "test; otherwise exit 1 with what came back."
        ),
    ] = "2xx",
    app_secret: AppSecret = defaults.APP_SECRET,
    as_json: AsJson = False,
) -> None:
    """Send realistic, signed WhatsApp webhooks on an open-model schedule; exit 1 when the
    answers are not the expected ones (--expect), 130 on Ctrl-C with the report so far.

    Example: wasim send text --body hola --from 5215512345678
    """
    sign_mode = (
        "bad-secret" if bad_secret else "none" if no_signature else "tamper" if tamper else "valid"
    )
    context = "reply" if reply else "forwarded" if forwarded else None
    job = from_named(  # SendJob's other fields are the options of the same names
        SendJob,
        locals(),
        target=Target(url=url, app_secret=app_secret, webhook_path=path, timeout=timeout),
        sets=sets or (),
        phones=[p for p in (phones or "").split(",") if p],
        locales=locale or (),
        ledger=ledger_path(ledger, not no_ledger),
    )
    progress = Progress(
        TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=as_json or not err_console.is_terminal,
    )  # fmt: skip
    task = progress.add_task("send", total=None)
    with progress:
        outcome = run(
            run_job(
                job,
                on_plan=lambda total: progress.update(task, total=total),
                on_progress=lambda done: progress.update(task, completed=done),
            ),
            fast_loop=True,
        )
    render_send(outcome, as_json)


@app.command("sign", cls=Command)
def sign_command(
    file: Annotated[Path | None, typer.Argument(help="Body file; stdin when omitted.")] = None,
    app_secret: AppSecret = defaults.APP_SECRET,
    as_json: AsJson = False,
) -> None:
    """Print the X-Hub-Signature-256 header value for a body, offline.

    Example: wasim sign body.json --app-secret s3cret
    """
    value = run(sign_source(file, app_secret))
    render_signature(value, as_json)


@app.command("verify", cls=Command)
def verify_command(
    url: Annotated[str, typer.Argument(help="Webhook URL.")] = (
        defaults.BASE_URL + defaults.WEBHOOK_PATH
    ),
    verify_token: VerifyToken = defaults.VERIFY_TOKEN,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
    as_json: AsJson = False,
) -> None:
    """Drive Meta's verification handshake: echo a random challenge, refuse a wrong token.

    Example: wasim verify http://127.0.0.1:8000/api/whatsapp/webhook --verify-token T
    """
    result = run(verify(url, verify_token, timeout=timeout))
    render_verify(result, as_json)
    if not result.ok:
        raise typer.Exit(code=1)


def render_send(outcome: JobOutcome, as_json: bool) -> None:
    if outcome.report is None:
        shown = [printable(outcome.endpoint, d) for d in outcome.printed]
        if as_json:
            console.print_json(data=shown if len(shown) > 1 else shown[0])
            return
        for item in shown:
            for header, value in item["headers"].items():
                console.print(f"{header}: {value}", highlight=False, soft_wrap=True)
            console.print(item["body"], highlight=False, soft_wrap=True, markup=False)
            console.print(item["curl"], highlight=False, soft_wrap=True, markup=False)
        return
    report = outcome.report
    if as_json:
        extra = {"recorded": outcome.recorded, "problem": outcome.problem}
        console.print_json(data={**report.as_dict(), **extra})
    else:
        console.print(send_table(report, outcome.endpoint))
    if outcome.interrupted:
        err_console.print(
            f"interrupted after {report.elapsed:.1f} s: {report.sent} of {report.planned} "
            "planned POSTs were sent and answered (above)"
        )
        raise typer.Exit(code=130)
    if outcome.problem is not None:
        fail(outcome.problem)


def send_table(report: SendReport, endpoint: str) -> Table:
    title = f"wasim send → {endpoint}" + (" (interrupted)" if report.interrupted else "")
    table = Table(title=title, show_header=False)
    table.add_column()
    table.add_column(overflow="fold")
    if not report.codes.get("200"):
        guidance = "not judged: no 200 answers"
    else:
        verdict = "[green]meets[/]" if report.meets_guidance else "[red]misses[/]"
        limits = f"median ≤ {GUIDANCE_MEDIAN_MS:.0f} ms, < 1% over 1 s"
        guidance = f"{verdict} ({limits}: {report.slow} over)"
    codes = sorted(report.codes.items())
    rows: list[tuple[str, Any]] = [
        ("sent", f"{report.sent} of {report.planned} planned ({report.rate:.0f}/s)"),
        ("answers", ", ".join(f"{code}: {n}" for code, n in codes) or "none"),
        ("timeouts", report.timeouts),
        ("connection errors", report.errors),
        ("retries", report.retries),
        ("duplicates", report.duplicates),
        ("gave up", report.gave_up),
        ("receiver latency", _ms(report.latency.summary())),
        ("Meta guidance", guidance),
        ("schedule lag", _ms(report.lag.summary())),
    ]
    if report.ids and report.planned <= IDS_KEPT:
        rows.append(("ids", "\n".join(report.ids)))
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def _ms(s: LatencySummary) -> str:
    return f"p50 {s.p50:.1f} · p95 {s.p95:.1f} · p99 {s.p99:.1f} · max {s.max:.1f} ms"


def render_signature(value: str, as_json: bool) -> None:
    if as_json:
        console.print_json(data={"header": "X-Hub-Signature-256", "value": value})
    else:
        print(value)


def render_verify(result: VerifyResult, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result.as_dict()))
        return
    colour = "green" if result.ok else "red"
    target = err_console if not result.ok else console
    target.print(f"[{colour}]{'PASS' if result.ok else 'FAIL'}[/] {result.url}: {result.verdict}")
