"""The Typer app, its consoles, and the one place where WasimError becomes a red line."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from wasim.errors import WasimError

T = TypeVar("T")

app = typer.Typer(
    name="wasim",
    help="Test real-time delivery of WhatsApp messages: send signed webhooks, listen to push "
    "events, benchmark polling versus push, and serve a reference backend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print one red line to stderr and exit with `exit_code`, without a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=exit_code)


@contextmanager
def handled() -> Iterator[None]:
    """The single boundary where library errors become one red line and an exit code."""
    try:
        yield
    except WasimError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(code=130) from None


def run(coro: Coroutine[Any, Any, T], *, fast_loop: bool = False) -> T:
    """Run one coroutine of the library inside the error boundary (on uvloop if asked)."""
    with handled():
        if fast_loop:
            try:
                import uvloop
            except ImportError:  # uvloop does not exist on Windows
                pass
            else:
                return uvloop.run(coro)
        return asyncio.run(coro)
    raise AssertionError("unreachable")  # for mypy: handled() exits on error
