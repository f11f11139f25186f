"""`[[faults]]` in scenario files: validated with the scenario loader's clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wasim.bench import loads
from wasim.cli._app import app
from wasim.errors import ConfigError

CLIENTS = """
[traffic]
rate = 2
duration = "20s"

[[clients]]
kind = "socketio"
"""

RESTART = """
[[faults]]
kind = "restart"
start = "5s"
duration = "2s"
"""


def test_faults_load_with_labels_numbered_by_kind() -> None:
    text = CLIENTS + RESTART + RESTART + '[[faults]]\nkind = "slow"\nstart = 1\nduration = 2\n'
    scenario = loads(text + 'latency = "100ms"\n')
    assert scenario.fault_names() == ["restart1", "restart2", "slow"]
    assert scenario.faults[2].latency == pytest.approx(0.1)


def test_restart_on_url_backend_without_commands_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "restart.toml"
    path.write_text(CLIENTS + '[backend]\nurl = "http://127.0.0.1:9"\n' + RESTART)
    result = CliRunner().invoke(app, ["bench", str(path), "--no-progress"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "restart.toml:12: faults[0]: a restart fault on a url backend needs" in result.output


def test_restart_on_url_backend_with_commands_loads() -> None:
    backend = '[backend]\nurl = "http://x"\nrestart = { stop = "true", start = "true" }\n'
    assert loads(CLIENTS + backend + RESTART).backend.restart is not None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param("latncy = 1", "latncy: unknown key; did you mean latency", id="typo"),
        pytest.param(
            "share = 0.5",
            "share applies to drop, blackhole, webhook_errors faults",
            id="wrong-kind",
        ),
        pytest.param("", "a slow fault needs latency, jitter or bandwidth", id="no-parameter"),
    ],
)
def test_fault_keys_are_checked_per_kind(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        loads(CLIENTS + f'[[faults]]\nkind = "slow"\nstart = 1\nduration = 1\n{extra}\n')
