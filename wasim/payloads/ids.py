"""Identifiers shaped like Meta's: wamids (reference §3.4), call ids, phone numbers, BSUIDs.

Each id is one or two draws of the seeded generator (`getrandbits`), not one draw per character:
at 100,000 webhooks a second the ids are built while sending.
"""

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


def phone_number(rng: random.Random, locale: str) -> str:
    """Digits only, with country code, as Meta writes `from` and `wa_id`."""
    _, code, length = COUNTRY_OF_LOCALE.get(locale, COUNTRY_OF_LOCALE["en_US"])
    return f"{code}{rng.randint(2, 9)}{rng.randrange(10 ** (length - 1)):0{length - 1}d}"


def country_of(locale: str) -> str:
    return COUNTRY_OF_LOCALE.get(locale, COUNTRY_OF_LOCALE["en_US"])[0]


def user_id(rng: random.Random, country: str) -> str:
    """A business-scoped user id (BSUID), e.g. `US.13491208655302741918`."""
    return f"{country}.{rng.randint(10**19, 10**20 - 1)}"


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}X}"


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
    return "wamid." + _struct(phone, message_key(rng, inbound), inbound)


def wacid(rng: random.Random, phone: str) -> str:
    """A call id: `wacid.` + the same struct with a 32-hex key, as Meta's calling samples
    decode (`wacid.HBgLMTIxODU1NTI4MjgVAgARGCAy…`)."""
    return "wacid." + _struct(phone, _hex(rng, 32), inbound=False)


def _struct(phone: str, key_text: str, inbound: bool) -> str:
    digits = phone.encode("ascii")
    key = key_text.encode("ascii")
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
    return base64.b64encode(raw).decode("ascii")


def numeric_id(rng: random.Random, digits: int = 15) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def group_id(rng: random.Random) -> str:
    """A WhatsApp group id as YCloud's group webhooks show it (`120363…@g.us`) [BSP]."""
    return f"120363{rng.randrange(10**12):012d}@g.us"


def sha256_b64(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(32)).decode("ascii")


def hex_id(rng: random.Random, length: int = 32) -> str:
    return _hex(rng, length).lower()
