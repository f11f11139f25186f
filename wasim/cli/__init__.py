"""wasim's command line: thin Typer commands over the importable async library."""

from __future__ import annotations

import sys

from wasim.cli import (
    bench,  # noqa: F401
    listen,  # noqa: F401
    probe,  # noqa: F401
    send,  # noqa: F401
    serve,  # noqa: F401  (each module registers its commands on `app`)
)
from wasim.cli._app import app


def main() -> None:
    try:
        app(prog_name="wasim")  # also as `python -m wasim`, for help and completion
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling began
        print("interrupted", file=sys.stderr)
        sys.exit(130)
