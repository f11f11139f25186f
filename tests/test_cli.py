"""The command line as a new user meets it: --version, completion, clean help, plain output."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import typer.main
from test_bench_run import tiny
from typer.testing import CliRunner

from wasim.cli import app
from wasim.tokens import mint_token

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
# Typer's own switch for its tests: the completion options then take the shell as a value
# instead of detecting the shell this test runs under.
NO_DETECTION = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def wasim(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_cli_version_is_the_package_metadata() -> None:
    result = wasim("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wasim {version('wasim')}\n"
    assert result.stderr == ""


def test_cli_shows_a_bash_completion_script_for_wasim() -> None:
    result = wasim("--show-completion", "bash", env=NO_DETECTION)
    assert result.returncode == 0, result.stderr
    assert "complete -o default -F _wasim_completion wasim" in result.stdout
    assert "_WASIM_COMPLETE=complete_bash" in result.stdout


def test_cli_installs_completion_in_home_only(tmp_path: Path) -> None:
    result = wasim("--install-completion", "bash", env={**NO_DETECTION, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    script = tmp_path / ".bash_completions" / "wasim.sh"
    assert "_wasim_completion" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_cli_completes_commands_and_options() -> None:
    def complete(words: str) -> list[str]:
        env = {
            "_WASIM_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        result = wasim(env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("wasim se") == ["send", "serve"]
    assert "--no-ledger" in complete("wasim send --no-")


@pytest.mark.parametrize("name", ["", *COMMANDS], ids=["wasim", *COMMANDS])
def test_cli_help_has_no_doubled_flags_or_type_tags(name: str) -> None:
    result = CliRunner().invoke(app, [*name.split(), "--help"], prog_name="wasim")
    assert result.exit_code == 0, result.output
    assert "Usage: wasim" in result.output
    for noise in ("--no-no-", "<bool>", "<str>"):
        assert noise not in result.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["send", "--no-signature", "--no-ledger", "--print"], id="send"),
        pytest.param(["listen", "--no-ledger", "--duration", "bad"], id="listen"),
    ],
)
def test_cli_negative_flags_still_parse(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, prog_name="wasim")
    assert "No such option" not in result.output
    assert result.exit_code in (0, 2), result.output


def test_cli_help_keeps_bracketed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(app, ["bench", "--help"], prog_name="wasim")
    assert "scenario's [load] processes" in result.output
    assert "scenario's [users]" in result.output


SIX_COLUMNS = "".join(
    f'\n[[clients]]\nkind = "{kind}"\nname = "{kind}{suffix}"\n'
    for suffix in ("", "-2")
    for kind in ("socketio", "sse", "ws")
)


def test_cli_bench_into_a_file_is_one_wide_table(tmp_path: Path, backend_url: str) -> None:
    scenario = tmp_path / "wide.toml"
    scenario.write_text(tiny(backend_url, clients=SIX_COLUMNS))
    env = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    with (tmp_path / "out.txt").open("w+") as out:
        code = subprocess.call(
            [sys.executable, "-m", "wasim", "bench", str(scenario)],
            stdout=out,
            stderr=subprocess.DEVNULL,
            env=env,
            timeout=120,
        )
        out.seek(0)
        lines = out.read().splitlines()
    assert code == 0, lines
    rows = [line for line in lines if line.startswith("latency p50")]
    assert len(rows) == 1, lines  # one table: at 80 columns it would be two blocks
    assert len(rows[0].split()) == 2 + 6 * 2  # the label, then six "8.1 ms" cells
    assert lines[0].startswith("wasim bench: tiny") and "seed" in lines[0]  # title not wrapped


def test_cli_token_with_a_short_secret_warns_nothing() -> None:
    result = wasim("token", "--secret", "short")
    assert result.returncode == 0
    assert result.stdout.count(".") == 2  # header.payload.signature
    assert result.stderr == ""


def test_cli_listen_with_a_short_secret_says_only_why_it_failed(backend_url: str) -> None:
    result = wasim("listen", "--url", backend_url, "--jwt-secret", "short", "--duration", "5s")
    assert result.returncode != 0
    assert "Warning" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_mint_token_with_a_short_secret_warns_nothing() -> None:
    # pytest turns any warning into an error here (filterwarnings = error)
    assert mint_token("demo", secret="short")
