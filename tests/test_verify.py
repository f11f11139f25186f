"""`wasim verify`: Meta's GET handshake against the bundled backend, a wrong token, no server."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from wasim import defaults
from wasim.cli import app
from wasim.send import verify
from wasim.server import ServerThread


def webhook(server: ServerThread) -> str:
    return server.url + defaults.WEBHOOK_PATH


async def test_verify_passes_against_backend(server: ServerThread) -> None:
    result = await verify(webhook(server), defaults.VERIFY_TOKEN)
    assert result.ok and result.echoed and result.wrong_token_status == 403


async def test_verify_wrong_token_fails(server: ServerThread) -> None:
    result = await verify(webhook(server), "not-the-token")
    assert not result.ok and result.status_code == 403
    assert "refused the verify token given" in result.verdict


def test_verify_command_passes(server: ServerThread) -> None:
    result = CliRunner().invoke(app, ["verify", webhook(server), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_verify_command_wrong_token_exits_non_zero(server: ServerThread) -> None:
    result = CliRunner().invoke(app, ["verify", webhook(server), "--verify-token", "nope"])
    assert result.exit_code == 1
    assert "FAIL" in result.stderr and "Traceback" not in result.output


def test_verify_command_unreachable_is_one_red_line() -> None:
    result = CliRunner().invoke(app, ["verify", "http://127.0.0.1:1/hook", "--timeout", "2"])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "cannot reach" in result.stderr
    assert "Traceback" not in result.output
