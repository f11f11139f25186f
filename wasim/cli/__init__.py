"""wasim's command line: thin Typer commands over the importable async library.

Each command's module is imported when that command runs (see `COMMAND_MODULES`); importing
`app` from here registers them all.
"""

from __future__ import annotations

import sys
from typing import Any

from wasim.cli import _app


def main() -> None:
    _app.load_commands(*sys.argv[1:2])
    try:
        _app.app(prog_name="wasim")  # also as `python -m wasim`, for help and completion
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling began
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def __getattr__(name: str) -> Any:
    if name == "app":
        _app.load_commands()
        return _app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
