"""A send plan: signed POST bodies, each with its scheduled start, built as they are sent."""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wasim.correlate import MARKER
from wasim.errors import ConfigError
from wasim.payloads import PayloadFactory, Shape, Update, kind_names
from wasim.payloads.model import ContextKind, override
from wasim.send.encoding import EnvelopeWriter, SignMode, Style, encode, signed_request

# The `value` keys whose items' ids a POST carries (noted in the ledger, matched by listen).
CARRY_IDS = ("messages", "message_echoes", "calls")
# `text` bodies and media captions: where a marker goes and is found.
_TEXTS = {"text": "body"}


@dataclass(frozen=True)
class Delivery:
    """One POST: the exact bytes and headers, what it carries, and when it should start."""

    body: bytes
    headers: Mapping[str, str]
    wamids: tuple[str, ...] = ()
    statuses: tuple[tuple[str, str], ...] = ()
    duplicate: bool = False
    at: float = 0.0  # seconds after the run starts
    markers: Mapping[str, str] = field(default_factory=dict)  # wamid -> its text's marker
    senders: Mapping[str, str] = field(default_factory=dict)  # wamid -> its phone (PlanSpec)


@dataclass(frozen=True)
class PlanSpec:
    """What to send: a mix of kinds, how many POSTs, at what rate, with which delivery habits.

    `overrides` are `--set` paths into each update's item: a plain path changes a field the
    item has (items without it are left alone), `+path` creates it. `only` keeps the updates
    drawn for those phones: every update of the whole plan is still drawn, so the kept ones
    have the ids, texts and times they have in the whole plan (`wasim bench --shard`).
    """

    mix: Mapping[str, float] = field(default_factory=lambda: {"text": 1.0})
    count: int = 1
    rate: float = 10.0
    batch: int = 1
    duplicates: float = 0.0
    reorder: float = 0.0
    phones: Sequence[str] | None = None
    style: Style = "meta"
    sign_mode: SignMode = "valid"
    overrides: Mapping[str, object] = field(default_factory=dict)
    context: ContextKind | None = None
    referral: bool = False
    senders: bool = False  # note the phone each inbound message is from (bench matches by it)
    only: frozenset[str] | None = None  # keep the updates drawn for these phones (a bench shard)


@dataclass(frozen=True)
class Recipe:
    """A plan as its ingredients, picklable, so the POSTs are built where they are needed: in
    a builder process (`wasim.send.builder`), and one share each in `--processes` children.

    `share` and `shares` pick the POSTs numbered `share`, `share + shares`, … of one schedule
    (`split`). A seed gives the same bytes run after run for the same number of shares; the
    shares of several processes draw from seeds derived from it.
    """

    spec: PlanSpec
    secret: str
    seed: int | None = None
    shape: Shape = "current"
    locales: tuple[str, ...] = ()
    markers: bool = False
    failed_contacts: bool = False
    names: tuple[tuple[str, str], ...] = ()  # (phone, profile name) known up front
    share: int = 0
    shares: int = 1

    @property
    def posts(self) -> int:
        """The POSTs of this share, duplicates and a lifecycle's end aside."""
        count = self.spec.count
        return count // self.shares + (self.share < count % self.shares)

    def split(self, shares: int) -> list[Recipe]:
        return [replace(self, share=k, shares=shares) for k in range(shares)]

    def factory(self) -> PayloadFactory:
        seed = self.seed
        if seed is not None and self.shares > 1:
            digest = hashlib.sha256(f"{seed}:{self.share}:{self.shares}".encode()).digest()
            seed = int.from_bytes(digest[:6], "big")
        factory = PayloadFactory(
            seed,
            self.shape,
            list(self.locales) or None,
            markers=self.markers,
            failed_contacts=self.failed_contacts,
        )
        for phone, name in self.names:
            factory.contact(phone, name)
        return factory

    def deliveries(self) -> Iterator[Delivery]:
        """This share's POSTs, each built when it is taken (`iter_plan`)."""
        return iter_plan(
            self.factory(), self.spec, self.secret, share=self.share, shares=self.shares
        )


def parse_mix(text: str) -> dict[str, float]:
    """`text=70,image=10,status=20` → weights; a bare `text` means only text."""
    names = kind_names()
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in names:
            raise ConfigError(f"unknown kind {name!r} in --mix; one of: {', '.join(names)}")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--mix weight for {name!r} is not a number: {weight!r}") from None
    if not mix or sum(mix.values()) <= 0:
        raise ConfigError("--mix needs at least one kind with a positive weight")
    return mix


def updates_of(
    factory: PayloadFactory,
    kind: str,
    phone: str | None = None,
    overrides: Mapping[str, object] | None = None,
    context: ContextKind | None = None,
    referral: bool = False,
) -> list[Update]:
    """The updates one draw of `kind` produces (a lifecycle two or three, a call up to four),
    with `overrides` applied (see PlanSpec)."""
    updates = factory.updates(kind, phone, context=context, referral=referral)
    for update in updates:
        for path, value in (overrides or {}).items():
            override(update.item, path, value)
    return updates


def prepare(
    payload: Any, secret: str, style: Style = "meta", sign_mode: SignMode = "valid"
) -> Delivery:
    """Encode and sign one webhook body (a dict from PayloadFactory.envelope)."""
    body, headers = signed_request(encode(payload, style), secret, sign_mode)
    wamids, statuses = ids_in(payload)
    return Delivery(body, headers, wamids, statuses, markers=markers_in(payload))


def _values(payload: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(payload, dict):
        return
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict):
                yield value


def ids_in(payload: Any) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Message ids (inbound, echoed, calls) and (status id, status) pairs in a webhook body."""
    wamids: list[str] = []
    statuses: list[tuple[str, str]] = []
    for value in _values(payload):
        for key in CARRY_IDS:
            wamids += [m["id"] for m in _items(value, key) if isinstance(m.get("id"), str)]
        statuses += [
            (s["id"], str(s.get("status")))
            for s in _items(value, "statuses")
            if isinstance(s.get("id"), str)
        ]
    return tuple(wamids), tuple(statuses)


def _items(value: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = value.get(key)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def markers_in(payload: Any) -> dict[str, str]:
    """The marker (`wasim.correlate`) that each message's (or echo's) text or caption carries."""
    items = [i for v in _values(payload) for k in CARRY_IDS[:2] for i in _items(v, k)]
    return markers_of(items)


def markers_of(items: Sequence[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in items:
        kind = message.get("type")
        body = message.get(kind) if isinstance(kind, str) else None
        if not isinstance(body, dict) or "id" not in message:
            continue
        text = body.get(_TEXTS.get(str(kind), "caption"))
        marker = MARKER.search(text) if isinstance(text, str) else None
        if marker:
            found[message["id"]] = marker.group(1)
    return found


def ids_in_body(body: bytes) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    try:
        return ids_in(json.loads(body))
    except (ValueError, TypeError, KeyError, AttributeError):
        return (), ()


def build_plan(factory: PayloadFactory, spec: PlanSpec, secret: str) -> list[Delivery]:
    """Every POST of a run, bodies encoded and signed, sorted by scheduled start.

    It holds the whole run in memory; `iter_plan` builds the same POSTs one at a time.
    """
    return list(iter_plan(factory, spec, secret))


def iter_plan(
    factory: PayloadFactory, spec: PlanSpec, secret: str, *, share: int = 0, shares: int = 1
) -> Iterator[Delivery]:
    """The POSTs of a run in order of scheduled start, each built when it is taken.

    Memory stays flat at any rate and duration: what is held is the factory's bounded state
    (people, markers) and the duplicates not yet due. With `shares` > 1 this is share
    `share` of one schedule: the POSTs numbered `share`, `share + shares`, … (the others'
    times are left free for the other processes).
    """
    check(spec)
    if not 0 <= share < shares:
        raise ConfigError("share must lie in [0, shares)")
    count = spec.count // shares + (share < spec.count % shares)
    if count == 0:
        return
    # Duplicates and reordering draw from their own generator, so the payloads of a seed do
    # not change with --duplicates or --reorder.
    schedule = random.Random(factory.rng.getrandbits(64))
    updates = _draws(factory, spec, count)
    if spec.reorder:
        updates = _reordered(updates, spec.reorder, schedule)
    writer = EnvelopeWriter(factory, spec.style)
    late: list[tuple[float, int, Delivery]] = []  # duplicates not yet due, a heap
    only = spec.only
    for index, drawn in enumerate(_batches(updates, spec.batch)):
        at = (share + index * shares) / spec.rate
        while late and late[0][0] <= at:
            yield heapq.heappop(late)[2]
        # The duplicates' draws are made for every POST, kept or not, so they stay in step.
        gaps = _duplicate_gaps(spec.duplicates, spec.rate, schedule)
        group = [u for phone, u in drawn if only is None or phone in only]
        if not group:
            continue
        delivery = _delivery(factory, writer, group, secret, spec, at)
        yield delivery
        for gap in gaps:
            copy = replace(delivery, duplicate=True, at=delivery.at + gap)
            heapq.heappush(late, (copy.at, next(_sequence), copy))
    while late:
        yield heapq.heappop(late)[2]


def check(spec: PlanSpec) -> None:
    """Raise ConfigError for a spec no plan can follow."""
    if spec.count < 1 or spec.batch < 1:
        raise ConfigError("count and batch must be at least 1")
    if spec.rate <= 0:
        raise ConfigError("rate must be greater than 0")
    if not 0 <= spec.duplicates < 1 or not 0 <= spec.reorder <= 1:
        raise ConfigError("duplicate and reorder probabilities must lie in [0, 1)")


_sequence = itertools.count()  # ties between duplicates due at the same instant


Drawn = tuple[str | None, Update]  # an update and the phone it was drawn for


def _draws(factory: PayloadFactory, spec: PlanSpec, posts: int) -> Iterator[Drawn]:
    # A lifecycle or call drawn last is sent whole, even past `posts` x `batch` updates.
    kinds = list(spec.mix)
    bounds = list(itertools.accumulate(spec.mix.values()))
    phones = list(spec.phones or ())
    rng, drawn = factory.rng, 0
    while drawn < posts * spec.batch:
        kind = (
            kinds[bisect.bisect(bounds, rng.random() * bounds[-1])] if len(kinds) > 1 else kinds[0]
        )
        phone = phones[rng.randrange(len(phones))] if phones else None
        updates = updates_of(factory, kind, phone, spec.overrides, spec.context, spec.referral)
        drawn += len(updates)
        yield from ((phone, update) for update in updates)


def _reordered(updates: Iterator[Drawn], probability: float, rng: random.Random) -> Iterator[Drawn]:
    # Meta guarantees no order: each neighbour swap moves the held update one place later, so
    # `read` may arrive before `delivered` (as swapping neighbours in a list would).
    held = next(updates, None)
    for update in updates:
        if probability and rng.random() < probability:
            yield update
        else:
            assert held is not None
            yield held
            held = update
    if held is not None:
        yield held


def _batches(updates: Iterator[Drawn], size: int) -> Iterator[list[Drawn]]:
    if size == 1:
        yield from ([update] for update in updates)
        return
    group: list[Drawn] = []
    for update in updates:
        group.append(update)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _delivery(
    factory: PayloadFactory,
    writer: EnvelopeWriter,
    group: list[Update],
    secret: str,
    spec: PlanSpec,
    at: float,
) -> Delivery:
    body, headers = signed_request(writer.encode(group), secret, spec.sign_mode)
    wamids: list[str] = []
    statuses: list[tuple[str, str]] = []
    senders: dict[str, str] = {}
    for update in group:
        key = update.item.get("id")
        if not isinstance(key, str):
            continue
        if update.field == "statuses":
            statuses.append((key, str(update.item.get("status"))))
        elif update.field in CARRY_IDS:
            wamids.append(key)
            if spec.senders and update.field == "messages":
                senders[key] = str(update.item.get("from", ""))
    markers = markers_of([u.item for u in group]) if factory.markers is not None else {}
    return Delivery(
        body, headers, tuple(wamids), tuple(statuses), at=at, markers=markers, senders=senders
    )


def _duplicate_gaps(probability: float, rate: float, rng: random.Random) -> list[float]:
    # A second delivery with `probability`, a third for 10% of those (as mjarkk/whatsapp-dev):
    # each copy's delay after the original.
    gaps: list[float] = []
    for chance in (probability, 0.1):
        if rng.random() >= chance:
            break
        gap = rng.uniform(1.0, 20.0) / rate
        gaps.append(gap * (len(gaps) + 1))
    return gaps
