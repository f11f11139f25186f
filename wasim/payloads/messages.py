"""The body of each inbound message type (reference §3.2), drawn from a seeded generator."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from faker import Faker

from wasim.payloads import ids

JSON = dict[str, Any]

EMOJI = (
    "\U0001f44d",
    "\U0001f602",
    "\u2764\ufe0f",
    "\U0001f64f",
    "\U0001f389",
    "\U0001f525",
    "\U0001f60d",
    "\u2705",
    "\U0001f914",
    "\U0001f62d",
)
MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
UNSUPPORTED_TYPES = (
    "poll_update", "poll_creation", "edit", "group_invite", "gif", "keep_in_chat", "pin"
)  # fmt: skip


class Draw:
    """Everything a builder may draw from: one seeded Random, one Faker per locale.

    Texts are sentences of each locale's Faker vocabulary, drawn here from the seeded Random
    rather than through `Faker.sentence` (five times the cost): bodies are built while they
    are sent, up to 100,000 a second.
    """

    def __init__(self, rng: random.Random, fakers: dict[str, Faker]) -> None:
        self.rng = rng
        self.fakers = fakers
        self.locales = sorted(fakers)
        self._words: dict[str, tuple[list[str], str, str]] = {}

    def faker(self, locale: str | None = None) -> Faker:
        return self.fakers[locale or self.rng.choice(self.locales)]

    def text(self, locale: str | None = None) -> str:
        rng = self.rng
        words, joint, stop = self.vocabulary(locale or rng.choice(self.locales))
        picked = rng.choices(words, k=rng.randint(3, 12))
        sentence = joint.join(picked)
        sentence = sentence[:1].upper() + sentence[1:] + stop
        if rng.random() < 0.35:
            sentence += " " + rng.choice(EMOJI)
        return sentence

    def vocabulary(self, locale: str) -> tuple[list[str], str, str]:
        """A locale's words, the string between them and the sentence's end (`。` in ja_JP)."""
        found = self._words.get(locale)
        if found is None:
            lorem = self.fakers[locale].provider("faker.providers.lorem")
            words = list(getattr(lorem, "get_words_list", lambda: ["hola"])())
            joint = str(getattr(lorem, "word_connector", " "))
            stop = str(getattr(lorem, "sentence_punctuation", "."))
            found = self._words[locale] = (words, joint, stop)
        return found

    def caption(self) -> str | None:
        return self.text() if self.rng.random() < 0.6 else None

    def media(self, mime_type: str, ts: str, caption: bool) -> JSON:
        media_id = ids.numeric_id(self.rng, 16)
        body: JSON = {}
        text = self.caption() if caption else None
        if text is not None:
            body["caption"] = text
        body["mime_type"] = mime_type
        body["sha256"] = ids.sha256_b64(self.rng)
        body["id"] = media_id
        body["url"] = (
            f"{MEDIA_URL}?mid={media_id}&source=webhook&ext={ts}&hash={ids.sha256_b64(self.rng)}"
        )
        return body


def text(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {"body": d.text()}


def image(d: Draw, ts: str, ctx: JSON) -> JSON:
    return d.media("image/jpeg", ts, caption=True)


def audio(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {**d.media("audio/ogg; codecs=opus", ts, caption=False), "voice": False}


def voice(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {**d.media("audio/ogg; codecs=opus", ts, caption=False), "voice": True}


def video(d: Draw, ts: str, ctx: JSON) -> JSON:
    return d.media("video/mp4", ts, caption=True)


def document(d: Draw, ts: str, ctx: JSON) -> JSON:
    body = d.media("application/pdf", ts, caption=True)
    name = str(d.faker().file_name(extension="pdf"))
    keys = list(body)
    at = 1 if "caption" in body else 0
    keys.insert(at, "filename")
    return {k: (name if k == "filename" else body[k]) for k in keys}


def sticker(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {**d.media("image/webp", ts, caption=False), "animated": d.rng.random() < 0.3}


def location(d: Draw, ts: str, ctx: JSON) -> JSON:
    fake = d.faker()
    return {
        "address": str(fake.address()).replace("\n", ", "),
        "latitude": round(d.rng.uniform(-60, 70), 6),
        "longitude": round(d.rng.uniform(-180, 180), 6),
        "name": str(fake.company()),
        "url": f"https://{fake.domain_name()}/",
    }


def contacts(d: Draw, ts: str, ctx: JSON) -> list[JSON]:
    locale = d.rng.choice(d.locales)
    fake = d.faker(locale)
    first, last = str(fake.first_name()), str(fake.last_name())
    phone = ids.phone_number(d.rng, locale)
    return [
        {
            "addresses": [
                {
                    "city": str(fake.city()),
                    "country": ids.country_of(locale),
                    "country_code": ids.country_of(locale),
                    "street": str(fake.street_address()),
                    "type": "HOME",
                    "zip": str(fake.postcode()),
                }
            ],
            "birthday": fake.date_of_birth(minimum_age=18, maximum_age=80).isoformat(),
            "emails": [{"email": str(fake.email()), "type": "WORK"}],
            "name": {"formatted_name": f"{first} {last}", "first_name": first, "last_name": last},
            "org": {"company": str(fake.company()), "title": str(fake.job())},
            "phones": [{"phone": f"+{phone}", "wa_id": phone, "type": "CELL"}],
            "urls": [{"url": f"https://{fake.domain_name()}/", "type": "WORK"}],
        }
    ]


def button_reply(d: Draw, ts: str, ctx: JSON) -> JSON:
    title = d.rng.choice(("Yes", "No", "Cancel", "Confirmar", "Sí, gracias", "Mais tarde"))
    return {
        "type": "button_reply",
        "button_reply": {"id": f"btn-{d.rng.randint(1, 9)}", "title": title},
    }


def list_reply(d: Draw, ts: str, ctx: JSON) -> JSON:
    row = {"id": f"row-{d.rng.randint(1, 10)}", "title": d.text()[:24], "description": d.text()}
    return {"type": "list_reply", "list_reply": row}


def nfm_reply(d: Draw, ts: str, ctx: JSON) -> JSON:
    answer = {"flow_token": ids.hex_id(d.rng, 16), "name": str(d.faker().name())}
    reply = {
        "name": "flow",
        "body": "Sent",
        "response_json": json.dumps(answer, ensure_ascii=False),
    }
    return {"type": "nfm_reply", "nfm_reply": reply}


def button(d: Draw, ts: str, ctx: JSON) -> JSON:
    label = d.rng.choice(("Approve", "Reschedule", "Stop promotions", "Confirmar"))
    return {"payload": label.lower().replace(" ", "_") + f"_{d.rng.randint(1, 99)}", "text": label}


def reaction(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {"message_id": ctx["business_wamid"], "emoji": d.rng.choice(EMOJI)}


def unreaction(d: Draw, ts: str, ctx: JSON) -> JSON:
    # Removing a reaction sends the same webhook with `emoji` omitted.
    return {"message_id": ctx["business_wamid"]}


def order(d: Draw, ts: str, ctx: JSON) -> JSON:
    items = [
        {
            "product_retailer_id": ids.hex_id(d.rng, 10),
            "quantity": d.rng.randint(1, 5),
            "item_price": round(d.rng.uniform(1, 200), 2),
            "currency": d.rng.choice(("USD", "MXN", "BRL", "EUR")),
        }
        for _ in range(d.rng.randint(1, 3))
    ]
    return {"catalog_id": ids.numeric_id(d.rng), "text": d.text(), "product_items": items}


def system(d: Draw, ts: str, ctx: JSON) -> JSON:
    new = ids.phone_number(d.rng, d.rng.choice(d.locales))
    return {
        "body": f"User {ctx['name']} changed from {ctx['phone']} to {new}",
        "wa_id": new,
        "type": "user_changed_number",
    }


def unsupported(d: Draw, ts: str, ctx: JSON) -> JSON:
    return {"type": d.rng.choice(UNSUPPORTED_TYPES)}


UNSUPPORTED_ERRORS = [
    {
        "code": 131051,
        "title": "Message type unknown",
        "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."},
    }
]

Builder = Callable[[Draw, str, JSON], Any]

# kind -> (wire `type`, builder); interactive kinds share `type: interactive`.
BUILDERS: dict[str, tuple[str, Builder]] = {
    "text": ("text", text),
    "image": ("image", image),
    "audio": ("audio", audio),
    "voice": ("audio", voice),
    "video": ("video", video),
    "document": ("document", document),
    "sticker": ("sticker", sticker),
    "location": ("location", location),
    "contacts": ("contacts", contacts),
    "button_reply": ("interactive", button_reply),
    "list_reply": ("interactive", list_reply),
    "nfm_reply": ("interactive", nfm_reply),
    "button": ("button", button),
    "reaction": ("reaction", reaction),
    "unreaction": ("reaction", unreaction),
    "order": ("order", order),
    "system": ("system", system),
    "unsupported": ("unsupported", unsupported),
}
# Replies to something the business sent carry a context pointing at it.
REPLIES_TO_BUSINESS = frozenset({"button_reply", "list_reply", "nfm_reply", "button"})
