"""Bytes on the wire and their signature: Meta-style JSON, plain JSON, X-Hub-Signature-256."""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from typing import Any, Literal, get_args

from wasim.errors import ConfigError
from wasim.payloads import Contact, PayloadFactory, Update

Style = Literal["meta", "plain"]
SignMode = Literal["valid", "bad-secret", "none", "tamper"]
SIGN_MODES: tuple[SignMode, ...] = get_args(SignMode)
SIGNATURE_HEADER = "X-Hub-Signature-256"
USER_AGENT = "facebookexternalua"
_META_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_PLAIN_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(payload: Any, style: Style = "meta") -> bytes:
    """Serialize like Meta: compact, ASCII-only lowercase `\\uXXXX`, and `/` written `\\/`."""
    if style == "meta":
        # `/` only ever occurs inside JSON strings, so escaping every one is safe.
        return _META_JSON.encode(payload).replace("/", "\\/").encode("ascii")
    if style == "plain":
        return _PLAIN_JSON.encode(payload).encode("utf-8")
    raise ConfigError(f"unknown body style {style!r}: use meta or plain")


def signature(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value: `sha256=` + lowercase hex HMAC of the exact bytes."""
    # Named by a string, the digest takes OpenSSL's one-shot path (half hashlib.sha256's time).
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, "sha256").hexdigest()


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


class EnvelopeWriter:
    """`encode(factory.envelope(*updates), style)`, byte for byte, without re-encoding what
    every body of a run shares: the envelope, the metadata, and each contact (a run draws its
    people from a bounded population). Bodies are encoded as they are sent, up to 100,000 a
    second; the parts that change (the items) are a little over half of each body.
    """

    CONTACTS_KEPT = 10_000

    def __init__(self, factory: PayloadFactory, style: Style = "meta") -> None:
        if style not in ("meta", "plain"):
            raise ConfigError(f"unknown body style {style!r}: use meta or plain")
        self.style = style
        self.shape = factory.shape
        self._json = (_META_JSON if style == "meta" else _PLAIN_JSON).encode
        dump = self._json
        entry = {"id": factory.waba_id}
        self._head = '{"object":"whatsapp_business_account","entry":[' + dump(entry)[:-1]
        self._head += ',"changes":['
        metadata = {
            "display_phone_number": factory.display_phone_number,
            "phone_number_id": factory.phone_number_id,
        }
        self._value = '{"value":{"messaging_product":"whatsapp","metadata":' + dump(metadata)
        self._contacts: dict[Contact, str] = {}
        self._names: dict[str, str] = {}  # field names, encoded

    def encode(self, updates: Sequence[Update]) -> bytes:
        dump = self._json
        changes = []
        for update in updates:
            if update.flat:
                value = '{"value":' + dump(update.item)
            else:
                value = self._value
                if update.contact is not None:
                    value += ',"contacts":[' + self._contact(update.contact) + "]"
                value += self._key(update.field) + ":[" + dump(update.item) + "]}"
            changes.append(value + ',"field":' + self._name(update.change) + "}")
        text = self._head + ",".join(changes) + "]}]}"
        if self.style == "meta":
            return text.replace("/", "\\/").encode("ascii")
        return text.encode("utf-8")

    def _key(self, name: str) -> str:
        found = self._names.get(name)
        if found is None:
            found = self._names[name] = self._json(name)
        return "," + found

    def _name(self, name: str) -> str:
        return self._key(name)[1:]

    def _contact(self, contact: Contact) -> str:
        found = self._contacts.get(contact)
        if found is None:
            if len(self._contacts) >= self.CONTACTS_KEPT:
                self._contacts.clear()
            found = self._contacts[contact] = self._json(contact.as_dict(self.shape))
        return found
