"""A sending process of wasim.send.fleet: `send_plan` on its share, driven by JSON lines on
stdin, reporting NDJSON on stdout (the records are listed in wasim.send.fleet)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from wasim.errors import TargetError, WasimError
from wasim.ledger import LedgerWriter
from wasim.send.fleet import decode_plan
from wasim.send.report import SendReport
from wasim.send.retry import RetryProfile
from wasim.send.sender import Target, send_plan
from wasim.workers import error_record, run_fast, write_record


def _next() -> dict[str, Any] | None:
    """The parent's next record, or None once it has closed the pipe."""
    line = sys.stdin.readline()
    return json.loads(line) if line.strip() else None


class _Progress:
    """Reports the count sent every tick, and how many POSTs in a row got no answer."""

    def __init__(self, report: SendReport) -> None:
        self.report = report
        self.answered = 0
        self.failed_before = 0  # POSTs without an answer until the last one answered

    def __call__(self, sent: int) -> None:
        report = self.report
        answered = sum(report.answers.values())
        failed = report.errors + report.timeouts
        if answered != self.answered:
            self.answered, self.failed_before = answered, failed
        write_record(
            {
                "type": "progress",
                "sent": sent,
                "unreachable": failed - self.failed_before,
                "error": report.first_error,
            }
        )


async def _quiet_once_cancelled(sending: Coroutine[Any, Any, SendReport]) -> None:
    """Run `sending`; once Ctrl-C has cancelled it, ignore further SIGINTs (the terminal's and
    the parent's may both arrive) and tell the parent, so the report is written either way."""
    try:
        await sending
    except asyncio.CancelledError:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        write_record({"type": "stopping"})
        raise


def main() -> None:
    job = _next()
    share = _next()
    if job is None or share is None:
        return  # the parent ended before it had a plan to send
    plan = decode_plan(share["plan"])
    retry = RetryProfile(**job["retry"]) if job["retry"] is not None else None
    ledger = LedgerWriter(Path(job["ledger"]), announce=False) if job["ledger"] else None
    report = SendReport()
    write_record({"type": "ready"})
    try:
        start = _next()
        if start is None:
            return
        run_fast(
            _quiet_once_cancelled(
                send_plan(
                    Target(**job["target"]),
                    plan,
                    concurrency=job["concurrency"],
                    retry=retry,
                    on_progress=_Progress(report),
                    start_at=start["start_at"],
                    ledger=ledger,
                    report=report,
                )
            )
        )
    except KeyboardInterrupt:  # the parent asked: report what was sent, whatever comes next
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        report.interrupted = True
    except WasimError as exc:
        write_record(error_record(exc))
        return
    except Exception as exc:  # carried to the parent, which raises it
        write_record(error_record(TargetError(f"a sending process failed: {exc}")))
        return
    finally:
        if ledger is not None:
            ledger.close()
    write_record({"type": "report", **report.encode()})


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # before the run: nothing to report
        sys.exit(130)
