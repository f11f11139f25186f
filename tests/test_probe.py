"""`wasim probe` against real backends: the scenario it writes runs unchanged in `wasim bench`
with every message delivered; an unreachable URL, a wrong secret or token is one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import Result
from foreign_backend import APP_SECRET, VERIFY_TOKEN
from typer.testing import CliRunner

from wasim.bench import load
from wasim.cli._app import app

FOREIGN = [
    "--webhook-path", "/hooks/whatsapp",
    "--app-secret", APP_SECRET,
    "--verify-token", VERIFY_TOKEN,
    "--login-path", "/auth/login",
    "--login-token", "access_token",
    "--setup-path", "/api/chats",
    "--setup-body", '{"contactPhone": "{contact.phone}"}',
    "--setup-capture", "conversation_id=chat.id",
    "--conversations-path", "/api/chats",
    "--stream-path", "/api/events",
]  # fmt: skip
WRONG_JWT_SECRET = "not-the-secret-but-long-enough-for-hs256"


def probe(url: str, *options: str) -> Result:
    return CliRunner().invoke(app, ["probe", url, *options])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("backend", "options", "kinds"),
    [
        pytest.param(
            "backend_url", [], {"poll", "poll-optimized", "socketio", "sse", "ws", "hybrid"},
            id="bundled",
        ),
        pytest.param(
            "foreign_url", FOREIGN, {"poll", "poll-optimized", "socketio", "sse", "hybrid"},
            id="foreign",
        ),
    ],
)  # fmt: skip
def test_probe_writes_a_scenario_bench_runs_unchanged_with_every_message_delivered(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    backend: str,
    options: list[str],
    kinds: set[str],
) -> None:
    url, written = request.getfixturevalue(backend), tmp_path / "probed.toml"
    result = probe(url, *options, "--write", str(written), "--users", "2", "--duration", "1s")
    assert result.exit_code == 0, result.output
    assert f"wrote {written}" in result.output
    assert {group.kind for group in load(str(written)).clients} == kinds
    ran = CliRunner().invoke(app, ["bench", str(written), "--no-progress", "--json"])
    assert ran.exit_code == 0, ran.output
    groups = json.loads(ran.stdout)["groups"]
    assert [(g["delivered"], g["name"]) for g in groups] == [
        (g["expected"], g["name"]) for g in groups
    ]
    assert sum(g["expected"] for g in groups) > 0


def test_probe_reads_the_foreign_backends_names_and_shapes(foreign_url: str) -> None:
    result = probe(foreign_url, *FOREIGN, "--write", "", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    socketio = next(p for p in report["push"] if p["kind"] == "socketio")
    assert (socketio["new_message"], socketio["conversation_updated"]) == (
        "chat:message",
        "chat:update",
    )
    assert socketio["message_status"] == "chat:status"
    assert next(p for p in report["push"] if p["kind"] == "ws")["connected"] is False
    poll = report["poll"]
    assert (poll["shape"], poll["found"], poll["how"]) == ("array", "lastMessage", "marker")
    assert (poll["etag"], poll["messages_field"], report["metrics"]) == (False, "items", False)
    assert "app_secret" not in report["options"]


def test_probe_unreachable_url_is_one_line_and_exit_3() -> None:
    result = probe(f"http://127.0.0.1:{closed_port()}", "--write", "", "--timeout", "2s")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "cannot reach" in result.stderr


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param(["--app-secret", "wrong"], "--app-secret", id="app-secret"),
        pytest.param(["--verify-token", "wrong"], "--verify-token", id="verify-token"),
        pytest.param(["--jwt-secret", WRONG_JWT_SECRET], "--jwt-secret", id="jwt-secret"),
        pytest.param(
            ["--jwt-secret", WRONG_JWT_SECRET, "--no-setup"], "refused the token", id="no-setup"
        ),
    ],
)
def test_probe_wrong_secret_or_token_is_one_line_naming_it(
    backend_url: str, options: list[str], named: str
) -> None:
    result = probe(backend_url, *options, "--write", "")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and named in result.stderr, result.stderr


def test_probe_refused_login_is_one_line(foreign_url: str) -> None:
    result = probe(foreign_url, *FOREIGN, "--login-body", '{"user": "{user}"}', "--write", "")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "refused the login" in result.stderr
