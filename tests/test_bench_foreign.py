"""`wasim bench` against a backend it did not write (tests/foreign_backend.py), from a file alone:
an array list with only the last message's text, string ids, the id under `data.msg`, its own
event names, claim `sub`, a login call, no ETag, no event ids, no WebSocket, no /metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from junitparser import JUnitXml
from typer.testing import CliRunner

from wasim.cli._app import app

FOREIGN = """
name = "foreign"
thresholds = [{thresholds}]

[backend]
url = "{url}"
webhook_path = "/hooks/whatsapp"
app_secret = "foreign-app-secret"
verify_token = "foreign-verify-token"

[auth.login]
path = "/auth/login"
body = {{ username = "{{user}}" }}
token = "access_token"

[[setup]]
path = "/api/chats"
body = {{ contactPhone = "{{contact.phone}}" }}
capture = {{ conversation_id = "chat.id" }}

[users]
count = 3

[traffic]
rate = 10
duration = "1s"
drain = "2s"
{clients}"""

POLL = """
[[clients]]
kind = "{kind}"
conversations_path = "/api/chats"
list_interval = "0.4s"
detail_interval = "0.3s"
hidden_share = 0
"""

PUSH = """
[[clients]]
kind = "socketio"

[[clients]]
kind = "sse"
stream_path = "/api/events"

[[clients]]
kind = "hybrid"
conversations_path = "/api/chats"
"""

EVERY_KIND = POLL.format(kind="poll") + POLL.format(kind="poll-optimized") + PUSH


def scenario(url: str, clients: str, *thresholds: str) -> str:
    quoted = ", ".join(f'"{t}"' for t in thresholds)
    return FOREIGN.format(url=url, clients=clients, thresholds=quoted)


def bench(tmp_path: Path, text: str, *options: str) -> tuple[int, dict[str, Any], str]:
    path, report = tmp_path / "foreign.toml", tmp_path / "result.json"
    path.write_text(text)
    result = CliRunner().invoke(
        app, ["bench", str(path), "--no-progress", "--json-file", str(report), *options]
    )
    document = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, document, result.output


def delivered(document: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {g["name"]: (g["delivered"], g["expected"]) for g in document["groups"]}


def test_bench_foreign_backend_delivers_every_column_twice_in_a_row(
    tmp_path: Path, foreign_url: str
) -> None:
    for _ in range(2):
        code, document, output = bench(tmp_path, scenario(foreign_url, EVERY_KIND))
        assert code == 0, output
        assert all(got == want and want > 0 for got, want in delivered(document).values())
    assert len(delivered(document)) == 5


def test_bench_foreign_backend_matches_list_text_by_marker_and_events_by_id(
    tmp_path: Path, foreign_url: str
) -> None:
    code, document, output = bench(tmp_path, scenario(foreign_url, EVERY_KIND))
    how = {g["name"]: g["matched_by"] for g in document["groups"]}
    assert code == 0, output
    assert how["socketio"]["id"] == how["socketio"]["push"] > 0
    assert how["poll"].get("poll", 0) > 0 and how["poll"].get("marker", 0) > 0
    assert any("sends no ETag" in w for w in document["warnings"])
    assert any("/metrics answered HTTP 404" in w for w in document["warnings"])


def test_bench_foreign_backend_list_of_texts_is_matched_only_by_marker(
    tmp_path: Path, foreign_url: str
) -> None:
    list_only = POLL.format(kind="poll").replace('"0.3s"', '"0s"')  # no open chat: list only
    marked = scenario(foreign_url, list_only)
    unmarked = marked + "\n[match]\nmarker = false\n"
    assert delivered(bench(tmp_path, marked)[1])["poll"][0] > 0
    assert delivered(bench(tmp_path, unmarked)[1])["poll"][0] == 0


def test_bench_foreign_backend_missing_websocket_fails_only_its_column(
    tmp_path: Path, foreign_url: str
) -> None:
    clients = PUSH + '\n[[clients]]\nkind = "ws"\n'
    files = {name: tmp_path / name for name in ("b.xml", "b.md", "b.html")}
    code, document, output = bench(
        tmp_path,
        scenario(foreign_url, clients, "ws.delivery_ratio >= 1", "sse.delivery_ratio >= 1"),
        *("--junit", str(files["b.xml"]), "--markdown", str(files["b.md"])),
        *("--html", str(files["b.html"])),
    )
    groups = {g["name"]: g for g in document["groups"]}
    suites = JUnitXml.fromfile(str(files["b.xml"]))
    cases = {case.name: case.is_passed for suite in suites for case in suite}
    assert code == 1, output
    assert groups["ws"]["failed"] and "no WebSocket at" in groups["ws"]["failure"]
    assert "(HTTP 404)" in groups["ws"]["failure"]
    assert groups["sse"]["delivered"] == groups["sse"]["expected"] > 0
    assert cases == {"ws.delivery_ratio >= 1": False, "sse.delivery_ratio >= 1": True,
                     "ws connects": False}  # fmt: skip
    assert "FAILED" in files["b.md"].read_text() and files["b.html"].stat().st_size > 0


def test_bench_foreign_backend_wrong_login_stops_the_run_with_one_line(
    tmp_path: Path, foreign_url: str
) -> None:
    text = scenario(foreign_url, PUSH).replace('path = "/auth/login"', 'path = "/auth/nope"')
    code, _, output = bench(tmp_path, text)
    assert code == 3
    assert output.count("\n") == 1 and "/auth/nope" in output


def test_bench_foreign_backend_events_at_the_wrong_path_are_reported_with_their_keys(
    tmp_path: Path, foreign_url: str
) -> None:
    wrong = '\n[match]\nid_paths = ["message.wamid"]\nmarker = false\n'
    code, document, _ = bench(tmp_path, scenario(foreign_url, PUSH) + wrong)
    socketio = next(g for g in document["groups"] if g["name"] == "socketio")
    assert code == 0 and socketio["delivered"] == 0 and socketio["unmatched"] > 0
    assert "data.msg.whatsapp_id" in socketio["unmatched_keys"]["chat:message"]
    assert any("carried no id or marker" in w and "id_paths" in w for w in document["warnings"])
