"""Meta-style bytes, signatures and negative signing modes; `wasim sign` offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import sign
from typer.testing import CliRunner

from wasim.cli import app
from wasim.send import encode, signature, signed_request


def test_sign_meta_style_escapes_emoji_accents_and_slashes() -> None:
    body = encode({"text": "café 👍 a/b"})
    assert body == b'{"text":"caf\\u00e9 \\ud83d\\udc4d a\\/b"}'
    assert json.loads(body) == {"text": "café 👍 a/b"}


def test_sign_plain_style_is_utf8() -> None:
    assert encode({"text": "café/x"}, "plain") == '{"text":"café/x"}'.encode()


def test_sign_signature_matches_independent_hmac() -> None:
    body = encode({"x": "ñ"})
    assert signature(body, "s3cret") == sign(body, "s3cret")


@pytest.mark.parametrize("mode", ["bad-secret", "none", "tamper"])
def test_sign_negative_modes_break_verification(mode: str) -> None:
    original = encode({"object": "whatsapp_business_account", "timestamp": "1"})
    body, headers = signed_request(original, "s3cret", mode)  # type: ignore[arg-type]
    assert headers.get("X-Hub-Signature-256") != sign(body, "s3cret")


def test_sign_command_signs_a_file_and_stdin(tmp_path: Path) -> None:
    file = tmp_path / "body.json"
    file.write_bytes(b'{"a":"\\u00e9"}')
    runner = CliRunner()
    from_file = runner.invoke(app, ["sign", str(file), "--app-secret", "k"])
    from_stdin = runner.invoke(app, ["sign", "--app-secret", "k"], input=b'{"a":"\\u00e9"}')
    assert from_file.exit_code == 0 and from_file.stdout.strip() == sign(file.read_bytes(), "k")
    assert from_stdin.stdout == from_file.stdout


def test_sign_command_missing_file_is_one_red_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sign", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.output
