"""Identifiers shaped like Meta's: wamids (reference §3.4), phone numbers, BSUIDs, media ids."""

from __future__ import annotations

import base64
import random

# Country calling code and national number length, per Faker locale we draw people from.
COUNTRY_OF_LOCALE: dict[str, tuple[str, str, int]] = {
    "es_MX": ("MX", "521", 10),
    "pt_BR": ("BR", "55", 11),
    "en_US": ("US", "1", 10),
    "es_ES": ("ES", "34", 9),
    "de_DE": ("DE", "49", 11),
    "fr_FR": ("FR", "33", 9),
    "it_IT": ("IT", "39", 10),
    "en_IN": ("IN", "91", 10),
    "id_ID": ("ID", "62", 11),
    "ja_JP": ("JP", "81", 10),
    "ru_RU": ("RU", "7", 10),
    "tr_TR": ("TR", "90", 10),
}
DEFAULT_LOCALES = ("es_MX", "pt_BR", "en_US", "de_DE", "fr_FR", "ja_JP")

_HEX = "0123456789ABCDEF"


def phone_number(rng: random.Random, locale: str) -> str:
    """Digits only, with country code, as Meta writes `from` and `wa_id`."""
    _, code, length = COUNTRY_OF_LOCALE.get(locale, COUNTRY_OF_LOCALE["en_US"])
    first = str(rng.randint(2, 9))
    return code + first + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))


def country_of(locale: str) -> str:
    return COUNTRY_OF_LOCALE.get(locale, COUNTRY_OF_LOCALE["en_US"])[0]


def user_id(rng: random.Random, country: str) -> str:
    """A business-scoped user id (BSUID), e.g. `US.13491208655302741918`."""
    return f"{country}.{rng.randint(10**19, 10**20 - 1)}"


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_HEX) for _ in range(length))


def message_key(rng: random.Random, inbound: bool) -> str:
    """A WhatsApp client message key: iOS, web or Android style inbound; 18 hex outbound."""
    if not inbound:
        return _hex(rng, 18)
    style = rng.randrange(3)
    if style == 0:
        return "3A" + _hex(rng, 18)
    if style == 1:
        return "3EB0" + _hex(rng, 18)
    return _hex(rng, 32)


def wamid(rng: random.Random, phone: str, inbound: bool = True) -> str:
    """`wamid.` + base64 of the Thrift-like struct real ids decode to (reference §3.4)."""
    digits = phone.encode("ascii")
    key = message_key(rng, inbound).encode("ascii")
    raw = (
        b"\x1c\x18"
        + bytes([len(digits)])
        + digits
        + b"\x15\x02\x00"
        + (b"\x12" if inbound else b"\x11")
        + b"\x18"
        + bytes([len(key)])
        + key
        + b"\x00"
    )
    return "wamid." + base64.b64encode(raw).decode("ascii")


def numeric_id(rng: random.Random, digits: int = 15) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def sha256_b64(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(32)).decode("ascii")


def hex_id(rng: random.Random, length: int = 32) -> str:
    return _hex(rng, length).lower()
