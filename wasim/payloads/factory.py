"""`PayloadFactory`: contacts, messages, statuses and errors wrapped in Meta's envelope.

Every kind `wasim send` knows (`wasim.payloads.kinds`) is built here or by the modules for
the 2025-2026 fields (`coexistence`, `calls`, `events`), all from one seeded generator.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence

from faker import Faker

from wasim.correlate import new_marker, with_marker
from wasim.errors import ConfigError
from wasim.payloads import ids, statuses
from wasim.payloads.kinds import KINDS, kind_names
from wasim.payloads.messages import BUILDERS, REPLIES_TO_BUSINESS, UNSUPPORTED_ERRORS, Draw
from wasim.payloads.model import JSON, Contact, ContextKind, Shape, Update, set_path

MESSAGE_KINDS = tuple(BUILDERS)
STATUS_KINDS = statuses.STATUSES
# With a seed, timestamps start here (2026-04-01) so two runs give the same bytes.
SEEDED_EPOCH = 1775001600
# People who write to the business: past this many, messages come from people already seen.
POPULATION = 1000
MARKERS_KEPT = 100_000  # marker -> id of the latest messages (probe looks a marker up)
# The Faker providers the builders draw from. Faker loads all 25 by default: a third of a
# second per run for 6 locales, before the first body (the same bytes either way: providers
# draw from their locale's one seeded Random, and loading one draws nothing).
FAKER_PROVIDERS = [
    f"faker.providers.{name}"
    for name in ("address", "company", "date_time", "file", "internet", "job", "lorem", "person")
]

__all__ = ["JSON", "Contact", "ContextKind", "PayloadFactory", "Shape", "Update", "set_path"]


class PayloadFactory:
    """Builds realistic webhook payloads; deterministic when given a seed."""

    def __init__(
        self,
        seed: int | None = None,
        shape: Shape = "current",
        locale: str | Sequence[str] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        markers: bool = False,
        population: int = POPULATION,
        failed_contacts: bool = False,
    ) -> None:
        if shape not in ("current", "pre2026"):
            raise ConfigError(f"unknown payload shape {shape!r}: use current or pre2026")
        locales = [locale] if isinstance(locale, str) else list(locale or ids.DEFAULT_LOCALES)
        fakers: dict[str, Faker] = {}
        for index, name in enumerate(locales):
            try:
                fakers[name] = Faker(name, providers=FAKER_PROVIDERS)
            except AttributeError:
                raise ConfigError(f"unknown locale {name!r}") from None
            if seed is not None:
                fakers[name].seed_instance(seed + index)
        self.seed = seed
        self.shape: Shape = shape
        self.rng = random.Random(seed)
        self.draw = Draw(self.rng, fakers)
        self._clock = clock
        self._seeded_now = float(SEEDED_EPOCH)
        self._contacts: dict[str, Contact] = {}
        self._people: list[str] = []  # phones of drawn contacts, up to `population`
        self.population = max(1, population)
        # `failed` statuses: the documented recipient_user_id only, or also `contacts`.
        self.failed_contacts = failed_contacts
        self.sent_echoes: dict[str, tuple[str, str]] = {}  # phone -> (echo id, wire type)
        self.groups: list[str] = []  # group ids this business created, for group events
        # marker code -> message id, when texts and captions carry a marker (wasim.correlate)
        self.markers: dict[str, str] | None = {} if markers else None
        self.waba_id = ids.numeric_id(self.rng, 15)
        self.phone_number_id = ids.numeric_id(self.rng, 15)
        self.display_phone_number = "1555" + ids.numeric_id(self.rng, 7)

    # ids and people -------------------------------------------------------------------------

    def now(self) -> str:
        """A Unix-seconds string; under a seed a fixed, slowly advancing clock."""
        if self._clock is not None:
            return str(int(self._clock()))
        if self.seed is None:
            return str(int(time.time()))
        self._seeded_now += self.rng.random() * 2
        return str(int(self._seeded_now))

    def new_wamid(self, phone: str | None = None, *, inbound: bool = True) -> str:
        return ids.wamid(self.rng, phone or self.contact().phone, inbound)

    def contact(self, phone: str | None = None, name: str | None = None) -> Contact:
        """The contact behind `phone` (stable per factory), or a random one: a new person
        until `population` people have written, then one of them again."""
        if phone is not None and phone in self._contacts and name is None:
            return self._contacts[phone]
        if phone is None and name is None and len(self._people) >= self.population:
            return self._contacts[self.rng.choice(self._people)]
        locale = self.rng.choice(self.draw.locales)
        if phone is not None and not phone.isdigit():
            raise ConfigError(f"phone {phone!r} must be digits only, with its country code")
        number = phone or ids.phone_number(self.rng, locale)
        person = Contact(
            phone=number,
            name=name or str(self.draw.faker(locale).name()),
            user_id=ids.user_id(self.rng, ids.country_of(locale)),
        )
        if number not in self._contacts and phone is None:
            self._people.append(number)
        self._contacts[number] = person
        return person

    def renamed(
        self, person: Contact, phone: str | None = None, user_id: str | None = None
    ) -> Contact:
        """`person` after a change of number or business-scoped id; later updates use it."""
        changed = Contact(phone or person.phone, person.name, user_id or person.user_id)
        self._contacts[changed.phone] = changed
        if changed.phone != person.phone:
            self._contacts.pop(person.phone, None)
            self._people = [changed.phone if p == person.phone else p for p in self._people]
        return changed

    def new_user_id(self, person: Contact) -> str:
        """A fresh business-scoped id in `person`'s country (the BSUID's prefix)."""
        return ids.user_id(self.rng, person.user_id.partition(".")[0] or "US")

    # updates --------------------------------------------------------------------------------

    def message(
        self,
        kind: str,
        *,
        from_phone: str | None = None,
        name: str | None = None,
        context: ContextKind | None = None,
        referral: bool = False,
        **overrides: object,
    ) -> Update:
        """An inbound message of `kind` (see MESSAGE_KINDS); overrides are dotted paths."""
        if kind == "interactive":
            kind = "button_reply"
        if kind not in BUILDERS:
            raise ConfigError(f"unknown message type {kind!r}; one of: {', '.join(BUILDERS)}")
        who = self.contact(from_phone, name)
        wire_type, build = BUILDERS[kind]
        ts = self.now()
        # Only replies and reactions point at a business message: draw its id for them alone.
        replies = kind in REPLIES_TO_BUSINESS or context == "reply"
        business_wamid = ""
        if replies or kind in ("reaction", "unreaction"):
            business_wamid = ids.wamid(self.rng, who.phone, inbound=False)
        ctx = {"business_wamid": business_wamid, "name": who.name, "phone": who.phone}
        body = build(self.draw, ts, ctx)
        item: JSON = {}
        if replies:
            item["context"] = {"from": self.display_phone_number, "id": business_wamid}
        elif context in ("forwarded", "frequently_forwarded"):
            item["context"] = {context: True}
        item["from"] = who.phone
        if self.shape == "current":
            item["from_user_id"] = who.user_id
        item["id"] = ids.wamid(self.rng, who.phone, inbound=True)
        item["timestamp"] = ts
        if referral:
            item["referral"] = self._referral()
        item[wire_type] = body
        item["type"] = wire_type
        if kind == "unsupported":
            item["errors"] = [dict(error) for error in UNSUPPORTED_ERRORS]
        if kind == "system":
            self._changed_number(who, body)
        self.mark(item, wire_type)
        _apply(item, overrides)
        return Update("messages", item, None if kind == "system" else who)

    def _changed_number(self, who: Contact, body: JSON) -> None:
        # A new number also means a new business-scoped id; since Aug 2026 the system
        # message carries both ids (Meta changelog, reference §5b identity changes).
        moved = self.renamed(who, phone=str(body["wa_id"]), user_id=self.new_user_id(who))
        if self.shape == "current":
            kind = body.pop("type")
            body["user_id"] = moved.user_id
            body["previous_user_id"] = who.user_id
            body["type"] = kind

    def status(
        self,
        status: str,
        *,
        wamid: str | None = None,
        recipient: str | None = None,
        pricing: bool | None = None,
        error_code: int = 131049,
        timestamp: str | None = None,
        **overrides: object,
    ) -> Update:
        """A status of an outbound message; pricing by default on `sent` and `delivered`."""
        if status not in STATUS_KINDS:
            raise ConfigError(f"unknown status {status!r}; one of: {', '.join(STATUS_KINDS)}")
        who = self.contact(recipient)
        ts = timestamp or self.now()
        item: JSON = {
            "id": wamid or ids.wamid(self.rng, who.phone, inbound=False),
            "status": status,
            "timestamp": ts,
            "recipient_id": who.phone,
        }
        if status == "failed":
            # Sources disagree (reference §5b): the documented default names the user by
            # recipient_user_id only; `failed_contacts` also sends `contacts`.
            if self.shape == "current":
                item["recipient_user_id"] = who.user_id
            item["errors"] = [statuses.error_object(error_code, statuses.FAILED_ERRORS)]
        else:
            priced = pricing if pricing is not None else status in ("sent", "delivered")
            price = statuses.pricing(self.rng)
            if self.shape == "pre2026" and status in ("sent", "delivered", "read"):
                item["conversation"] = statuses.conversation(
                    self.rng, status, ts, price["category"]
                )
            if priced and status != "played":
                item["pricing"] = price
        _apply(item, overrides)
        # `played` is read-like: its contacts are read's (reference §5b).
        carries_contact = self.shape == "current" and (
            status in ("sent", "delivered", "read", "played")
            or (status == "failed" and self.failed_contacts)
        )
        return Update("statuses", item, who if carries_contact else None)

    def lifecycle(
        self,
        *,
        wamid: str | None = None,
        recipient: str | None = None,
        skip_delivered: bool | None = None,
    ) -> list[Update]:
        """sent → delivered → read with realistic gaps; `delivered` skipped when read at once."""
        who = self.contact(recipient)
        message_id = wamid or ids.wamid(self.rng, who.phone, inbound=False)
        skip = self.rng.random() < 0.2 if skip_delivered is None else skip_delivered
        start = int(self.now())
        delivered_at = start + self.rng.randint(1, 5)
        read_at = delivered_at if skip else delivered_at + self.rng.randint(2, 900)
        updates = [self.status("sent", wamid=message_id, recipient=who.phone, timestamp=str(start))]
        if not skip:
            updates.append(
                self.status(
                    "delivered", wamid=message_id, recipient=who.phone, timestamp=str(delivered_at)
                )
            )
        # Pricing rides on one of delivered/read, never both.
        updates.append(
            self.status(
                "read", wamid=message_id, recipient=who.phone, pricing=skip, timestamp=str(read_at)
            )
        )
        return updates

    def error(self, code: int = 130429, **overrides: object) -> Update:
        """A value-level (system, app or account) error."""
        item = statuses.error_object(code, statuses.VALUE_ERRORS)
        _apply(item, overrides)
        return Update("errors", item)

    # envelopes ------------------------------------------------------------------------------

    def updates(
        self,
        kind: str,
        phone: str | None = None,
        *,
        context: ContextKind | None = None,
        referral: bool = False,
    ) -> list[Update]:
        """The updates one draw of `kind` produces (see `wasim.payloads.kinds.KINDS`); a
        lifecycle or a whole call produces several, in the order Meta sends them."""
        found = KINDS.get("button_reply" if kind == "interactive" else kind)
        if found is None:
            raise ConfigError(f"unknown kind {kind!r}; one of: {', '.join(kind_names())}")
        return found.build(self, phone, context, referral)

    def value(self, update: Update) -> JSON:
        if update.flat:
            return dict(update.item)
        value: JSON = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
        }
        if update.contact is not None:
            value["contacts"] = [update.contact.as_dict(self.shape)]
        value[update.field] = [update.item]
        return value

    def envelope(self, *updates: Update) -> JSON:
        """The whole webhook body; several updates become several changes of one entry."""
        if not updates:
            raise ConfigError("an envelope needs at least one update")
        changes = [{"value": self.value(u), "field": u.change} for u in updates]
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": changes}],
        }

    def batch(self, updates: Sequence[Update]) -> JSON:
        return self.envelope(*updates)

    def mark(self, item: JSON, wire_type: str) -> None:
        """With markers on, append a fresh one to the message's text or caption, if any."""
        if self.markers is None:
            return
        body = item.get(wire_type)
        name = "body" if wire_type == "text" else "caption"
        if not isinstance(body, dict) or not isinstance(body.get(name), str):
            return
        code = new_marker(self.rng)
        while code in self.markers:
            code = new_marker(self.rng)
        body[name] = with_marker(body[name], code)
        self.markers[code] = item["id"]
        if len(self.markers) > MARKERS_KEPT:  # a long run's memory stays flat
            del self.markers[next(iter(self.markers))]

    def _referral(self) -> JSON:
        video = self.rng.random() < 0.3
        ref: JSON = {
            "source_url": f"https://fb.me/{ids.hex_id(self.rng, 9)}",
            "source_id": ids.numeric_id(self.rng, 18),
            "source_type": "ad",
            "body": self.draw.text(),
            "headline": self.draw.text()[:40],
            "media_type": "video" if video else "image",
        }
        media = "https://scontent.xx.fbcdn.net/v/t45.1600-4/" + ids.hex_id(self.rng, 20) + ".jpg"
        if video:
            ref["video_url"] = media.replace(".jpg", ".mp4")
            ref["thumbnail_url"] = media
        else:
            ref["image_url"] = media
        ref["ctwa_clid"] = ids.sha256_b64(self.rng).rstrip("=")
        ref["welcome_message"] = {"text": "Hi there! Let us know how we can help!"}
        return ref


def _apply(item: JSON, overrides: Mapping[str, object]) -> None:
    for path, value in overrides.items():
        set_path(item, path.replace("__", "."), value)
