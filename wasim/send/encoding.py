"""Bytes on the wire and their signature: Meta-style JSON, plain JSON, X-Hub-Signature-256."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal

from wasim.errors import ConfigError

Style = Literal["meta", "plain"]
SignMode = Literal["valid", "bad-secret", "none", "tamper"]
SIGN_MODES: tuple[SignMode, ...] = ("valid", "bad-secret", "none", "tamper")
SIGNATURE_HEADER = "X-Hub-Signature-256"
USER_AGENT = "facebookexternalua"


def encode(payload: Any, style: Style = "meta") -> bytes:
    """Serialize like Meta: compact, ASCII-only lowercase `\\uXXXX`, and `/` written `\\/`."""
    if style == "meta":
        # `/` only ever occurs inside JSON strings, so escaping every one is safe.
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
        return text.encode("ascii")
    if style == "plain":
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise ConfigError(f"unknown body style {style!r}: use meta or plain")


def signature(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value: `sha256=` + lowercase hex HMAC of the exact bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signed_request(
    body: bytes, secret: str, mode: SignMode = "valid"
) -> tuple[bytes, dict[str, str]]:
    """The bytes to send and their headers; negative modes break the signature on purpose."""
    if mode not in SIGN_MODES:
        raise ConfigError(f"unknown signing mode {mode!r}; one of: {', '.join(SIGN_MODES)}")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if mode == "valid":
        headers[SIGNATURE_HEADER] = signature(body, secret)
    elif mode == "bad-secret":
        headers[SIGNATURE_HEADER] = signature(body, secret + "-wrong")
    elif mode == "tamper":
        headers[SIGNATURE_HEADER] = signature(body, secret)
        body = _tamper(body)
    return body, headers


def _tamper(body: bytes) -> bytes:
    # Change one byte inside the body after signing; keep it valid JSON when possible.
    for old, new in ((b'"timestamp":"', b'"timestamp":"9'), (b"whatsapp", b"whatsApp")):
        if old in body:
            return body.replace(old, new, 1)
    return body + b" "
