"""`wasim send` tells the truth: where it posted, what came back, what it sent, bad input."""

from __future__ import annotations

import json

import pytest
from helpers import Receiver, sign
from typer.testing import CliRunner

from wasim import defaults
from wasim.cli import app
from wasim.send import Target, verify
from wasim.server import ServerThread

runner = CliRunner()


def send(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["send", *args])
    return result.exit_code, result.stdout, result.stderr


def test_send_wrong_secret_exits_1_naming_the_401(backend_url: str) -> None:
    code, out, err = send("text", "--url", backend_url, "--app-secret", "wrong")
    assert code == 1 and "401: 1" in out
    assert "1 of 1 answered 401: is --app-secret the backend's?" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("expect", ["401", "4xx", "400,401"])
def test_send_refusal_test_passes_only_when_refused(backend_url: str, expect: str) -> None:
    refused = send("text", "--url", backend_url, "--bad-secret", "--expect", expect)
    accepted = send("text", "--url", backend_url, "--expect", expect)
    assert refused[0] == 0, refused[2]
    assert accepted[0] == 1 and "answered 200 (expected" in accepted[2]


def test_send_tamper_and_no_signature_are_refused(backend_url: str) -> None:
    tamper = send("text", "--url", backend_url, "--tamper", "--expect", "401")
    unsigned = send("text", "--url", backend_url, "--no-signature")
    assert tamper[0] == 0
    assert unsigned[0] == 1 and "signed wrong on purpose; --expect 401" in unsigned[2]


def test_send_full_webhook_url_is_used_as_given(receiver: Receiver) -> None:
    code, out, _ = send("text", "--url", f"{receiver.url}/hooks/wa", "--app-secret", "s", "--json")
    again, _, _ = send("text", "--url", f"{receiver.url}/hooks/wa", "--path", "/other")
    assert code == again == 0 and receiver.paths == ["/hooks/wa", "/other"]
    assert receiver.signatures[0] == sign(receiver.bodies[0], "s")
    assert json.loads(out)["codes"] == {"200": 1}


def test_send_base_url_gets_the_default_path(receiver: Receiver) -> None:
    code, _, _ = send("text", "--url", receiver.url + "/")
    assert code == 0 and receiver.paths == [defaults.WEBHOOK_PATH]


def test_send_wrong_path_says_so(backend_url: str) -> None:
    code, _, err = send("text", "--url", f"{backend_url}/webhook")
    assert (
        code == 1 and f"answered 404: is the path right? (POSTed to {backend_url}/webhook)" in err
    )


def test_send_single_message_shows_its_id(receiver: Receiver) -> None:
    code, out, _ = send("text", "--url", receiver.url, "--id", "wamid.HBgLMTIzNDU2Nzg5MA==")
    lifecycle, out2, _ = send("lifecycle", "--url", receiver.url, "--json")
    wamid = json.loads(receiver.bodies[0])["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert code == lifecycle == 0 and "wamid.HBgLMTIzNDU2Nzg5MA==" in out
    assert wamid == "wamid.HBgLMTIzNDU2Nzg5MA=="
    assert len(json.loads(out2)["ids"]) == 1  # the one message whose statuses were sent


def test_send_answers_are_counted_by_code(receiver: Receiver) -> None:
    receiver.status = 202
    code, out, _ = send("text", "--url", receiver.url, "--count", "3", "--rate", "500/s", "--json")
    report = json.loads(out)
    assert code == 0 and report["codes"] == {"202": 3} and report["answers"] == {"2xx": 3}


def test_send_server_error_is_named(receiver: Receiver) -> None:
    receiver.status = 503
    code, _, err = send("text", "--url", receiver.url)
    assert code == 1 and "1 of 1 answered 503: the backend failed" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["--count", "0"], "--count 0", id="count-zero"),
        pytest.param(["--count", "5", "--duration", "2s"], "not both", id="count-and-duration"),
        pytest.param(["--set", "nosuch.field=1"], "--set +nosuch.field", id="unknown-set-path"),
        pytest.param(["--expect", "ok"], "--expect", id="expect"),
        pytest.param(["--mix", "text=1,selfie=2"], "unknown kind 'selfie'", id="mix-kind"),
        pytest.param(["--id", "wamid.X", "--mix", "history"], "--set +id", id="id-without-id"),
    ],
)
def test_send_bad_input_is_one_red_line(args: list[str], says: str) -> None:
    code, _, err = send("text", "--print", *args)
    assert code == 2 and says in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_send_set_new_field_with_plus() -> None:
    code, out, _ = send("text", "--print", "--json", "--set", "+context.forwarded=true")
    message = json.loads(json.loads(out)["body"])["entry"][0]["changes"][0]["value"]["messages"][0]
    assert code == 0 and message["context"] == {"forwarded": True}


def test_send_set_applies_to_the_kinds_that_have_the_field() -> None:
    args = ["--mix", "text=1,read=1", "--count", "6", "--seed", "2", "--set", "text.body=hi"]
    code, out, _ = send("--print", "--json", *args)
    values = [json.loads(p["body"])["entry"][0]["changes"][0]["value"] for p in json.loads(out)]
    texts = [v["messages"][0]["text"]["body"] for v in values if "messages" in v]
    assert code == 0 and texts and set(texts) == {"hi"}
    assert all("text" not in v["statuses"][0] for v in values if "statuses" in v)


def test_send_help_lists_every_kind() -> None:
    from wasim.payloads import KINDS

    text = runner.invoke(app, ["send", "--help"], env={"COLUMNS": "2000"}).stdout
    assert all(kind in text for kind in KINDS)


async def test_verify_tells_a_wrong_path_from_a_refused_token(server: ServerThread) -> None:
    wrong_path = await verify(server.url + "/webhook", defaults.VERIFY_TOKEN)
    wrong_token = await verify(server.url + defaults.WEBHOOK_PATH, "nope")
    assert "is the path right?" in wrong_path.verdict and "token" not in wrong_path.verdict
    assert "refused the verify token" in wrong_token.verdict


def test_send_target_url_and_path() -> None:
    assert Target(url="http://h:1").endpoint == "http://h:1" + defaults.WEBHOOK_PATH
    assert Target(url="http://h:1/a/b").endpoint == "http://h:1/a/b"
    assert Target(url="http://h:1/a", webhook_path="/c").endpoint == "http://h:1/c"
