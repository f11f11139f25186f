"""The Typer app, its consoles, and the one place where WasimError becomes a red line."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import IO, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from wasim.errors import WasimError

T = TypeVar("T")
WIDE = 200  # columns when printing to a file, a pipe or a CI log and $COLUMNS is not set


# Typer (0.2x) prints each parameter's annotation as a type tag: `<str>`, `<bool>` even on a
# flag, which takes no value. These classes print Click's names (TEXT, INTEGER, PATH) for a value
# and nothing for a flag; `Command` and `Group` hand every parameter, --help included, to them.
class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None or self.is_flag or self.count:
            return self.metavar or None
        return _classic(super().display_type_rich(ctx))


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return _classic(super().display_type_rich(ctx))


_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT"}


def _classic(tag: str | None) -> str | None:
    """`<str>` → TEXT, `<int range>` → INTEGER RANGE, `<list[str]>` → TEXT, `<path>` → PATH."""
    if not tag:
        return tag
    inner = re.sub(r"^list\[(.*)\]$", r"\1", tag.strip("<>"))
    words = [_TYPE_NAMES.get(word, word) for word in inner.split(" ")]
    return " ".join(words).upper()


def _plain(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    return params


class _PlainTypes:
    """Click-style type names in a command's help (`_plain`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))  # type: ignore[misc]


class Command(_PlainTypes, TyperCommand):
    """A wasim command."""


# The module of each command, imported when that command runs (help imports them all): all of
# them together take a second or more to import (wasim.bench, the transports), which every
# command would otherwise pay at start-up, `wasim send`'s time to its first POST among them.
COMMAND_MODULES = {
    "bench": "bench",
    "listen": "listen",
    "probe": "probe",
    "send": "send",
    "sign": "send",
    "verify": "send",
    "serve": "serve",
    "token": "serve",
    "report": "report",
}


def load_commands(*names: str) -> None:
    """Register the commands `names` (all of them when none is named) on `app`."""
    wanted = [COMMAND_MODULES[n] for n in names if n in COMMAND_MODULES]
    for module in sorted(set(wanted if names else COMMAND_MODULES.values())):
        importlib.import_module(f"wasim.cli.{module}")


class Commands(_PlainTypes, TyperGroup):
    """A group of wasim commands (`wasim report`)."""


class Group(Commands):
    """`wasim` itself: each command's module imported when it is first asked for
    (COMMAND_MODULES)."""

    def list_commands(self, ctx: Any) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, *names: str) -> None:
        load_commands(*names)
        for name, command in getattr(typer.main.get_command(app), "commands", {}).items():
            self.commands.setdefault(name, command)


app = typer.Typer(
    name="wasim",
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def make_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console `$COLUMNS` wide if set; else the terminal's width, or `WIDE` columns when the
    output is a file, a pipe or a CI log, so that tables are not cut to 80 columns there."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    wide = "COLUMNS" not in os.environ and not _is_terminal(stream)
    return Console(stderr=stderr, file=file, width=WIDE if wide else None)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


console = make_console()
err_console = make_console(stderr=True)


def package_version() -> str:
    """wasim's version, from the installed package's metadata."""
    from importlib.metadata import PackageNotFoundError, version  # a tenth of a second

    try:
        return version("wasim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from wasim import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        print(f"wasim {package_version()}")
        raise typer.Exit()


@app.callback()
def wasim(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Test real-time delivery of WhatsApp messages: send signed webhooks, listen to push
    events, benchmark polling versus push, and serve a reference backend."""


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print one red line to stderr and exit with `exit_code`, without a traceback.

    `message` is plain text, never Rich markup: errors name TOML tables ([backend]) and extras
    ('wasim[png]')."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=exit_code)


class _Interruption:
    """The signal that ended the running command early: Ctrl-C (SIGINT) or SIGTERM."""

    signal: int | None = None


interruption = _Interruption()


@contextmanager
def handled(on_interrupt: Callable[[], str] | None = None) -> Iterator[None]:
    """The single boundary where library errors become one red line and an exit code, and
    Ctrl-C one line (`on_interrupt()`, else "interrupted") and 130, never a traceback."""
    try:
        yield
    except (KeyboardInterrupt, asyncio.CancelledError, WasimError) as exc:
        if isinstance(exc, WasimError) and interruption.signal is None:
            fail(str(exc), exc.exit_code)  # an error after Ctrl-C is the interruption's doing
        err_console.print(
            on_interrupt() if on_interrupt else "interrupted", highlight=False, soft_wrap=True
        )
        raise typer.Exit(code=128 + (interruption.signal or signal.SIGINT)) from None


def run(
    coro: Coroutine[Any, Any, T],
    *,
    fast_loop: bool = False,
    stop: asyncio.Event | None = None,
    on_interrupt: Callable[[], str] | None = None,
) -> T:
    """Run one coroutine of the library inside the error boundary (on uvloop if asked).

    With `stop`, Ctrl-C or SIGTERM sets it, for the library to end early with what it has
    measured (then `exit_if_interrupted()` after printing it). With `on_interrupt` instead, they
    cancel the coroutine and the command ends with that one line. With neither (`wasim serve`:
    uvicorn handles its signals), Ctrl-C is a KeyboardInterrupt and the line is "interrupted".
    """
    interruption.signal = None
    main = coro if stop is None and on_interrupt is None else _interruptible(coro, stop)
    with handled(on_interrupt):
        if fast_loop:
            try:
                import uvloop
            except ImportError:  # uvloop does not exist on Windows
                pass
            else:
                return uvloop.run(main)
        return asyncio.run(main)
    raise AssertionError("unreachable")  # for mypy: handled() exits on error


async def _interruptible(coro: Coroutine[Any, Any, T], stop: asyncio.Event | None) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal(number: int) -> None:
        interruption.signal = interruption.signal or number
        if stop is not None:
            stop.set()
        elif task is not None:
            task.cancel()

    installed = []
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not on Windows
            loop.add_signal_handler(number, on_signal, number)
            installed.append(number)
    try:
        return await coro
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


def exit_if_interrupted() -> None:
    """End a command that printed what it measured before Ctrl-C with the signal's exit code."""
    if interruption.signal is not None:
        raise typer.Exit(code=128 + interruption.signal)
