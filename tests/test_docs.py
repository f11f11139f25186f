"""Every command has help text and a place in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from wasim.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text()
COMMANDS = sorted(typer.main.get_command(app).commands.items())  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_docs_command_has_help_and_an_example(name: str, command: object) -> None:
    help_text = getattr(command, "help", "") or ""
    assert help_text.strip(), f"wasim {name} has no help text"
    assert "Example:" in help_text, f"wasim {name} has no Example: line"
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option":
            assert getattr(param, "help", None), f"wasim {name} {param.opts[0]} has no help"


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_docs_readme_shows_every_command(name: str) -> None:
    assert f"wasim {name}" in README
