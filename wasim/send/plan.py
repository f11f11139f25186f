"""A send plan: signed POST bodies built ahead of time, each with its scheduled start."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wasim.correlate import MARKER
from wasim.errors import ConfigError
from wasim.payloads import MESSAGE_KINDS, STATUS_KINDS, PayloadFactory, Update, set_path
from wasim.payloads.factory import ContextKind
from wasim.send.encoding import SignMode, Style, encode, signed_request

SPECIAL_KINDS = ("status", "lifecycle", "error")
ALL_KINDS = (*MESSAGE_KINDS, *STATUS_KINDS, *SPECIAL_KINDS, "interactive")


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


@dataclass(frozen=True)
class PlanSpec:
    """What to send: a mix of kinds, how many POSTs, at what rate, with which delivery habits."""

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


def parse_mix(text: str) -> dict[str, float]:
    """`text=70,image=10,status=20` → weights; a bare `text` means only text."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in ALL_KINDS:
            raise ConfigError(f"unknown kind {name!r} in --mix; one of: {', '.join(ALL_KINDS)}")
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
    """The updates one draw of `kind` produces (a lifecycle produces two or three)."""
    if kind == "lifecycle":
        updates = factory.lifecycle(recipient=phone)
    elif kind in (*STATUS_KINDS, "status"):
        if kind == "status":
            kind = factory.rng.choice(("sent", "delivered", "read"))
        updates = [factory.status(kind, recipient=phone)]
    elif kind == "error":
        updates = [factory.error()]
    else:
        updates = [factory.message(kind, from_phone=phone, context=context, referral=referral)]
    for update in updates:
        for path, value in (overrides or {}).items():
            set_path(update.item, path, value)
    return updates


def prepare(
    payload: Any, secret: str, style: Style = "meta", sign_mode: SignMode = "valid"
) -> Delivery:
    """Encode and sign one webhook body (a dict from PayloadFactory.envelope)."""
    body, headers = signed_request(encode(payload, style), secret, sign_mode)
    wamids, statuses = carried(payload)
    return Delivery(body, headers, wamids, statuses, markers=markers_in(payload))


def carried(payload: Any) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Inbound message ids and (status id, status) pairs found in a webhook body."""
    wamids: list[str] = []
    statuses: list[tuple[str, str]] = []
    if not isinstance(payload, dict):
        return (), ()
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            wamids += [m["id"] for m in value.get("messages") or [] if "id" in m]
            statuses += [(s["id"], s["status"]) for s in value.get("statuses") or [] if "id" in s]
    return tuple(wamids), tuple(statuses)


def markers_in(payload: Any) -> dict[str, str]:
    """The marker (`wasim.correlate`) that each inbound message's text or caption carries."""
    found: dict[str, str] = {}
    if not isinstance(payload, dict):
        return found
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            for message in value.get("messages") or [] if isinstance(value, dict) else []:
                kind = message.get("type")
                body = message.get(kind) if isinstance(kind, str) else None
                if not isinstance(body, dict) or "id" not in message:
                    continue
                text = body.get("body") if kind == "text" else body.get("caption")
                marker = MARKER.search(text) if isinstance(text, str) else None
                if marker:
                    found[message["id"]] = marker.group(1)
    return found


def carried_in(body: bytes) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    try:
        return carried(json.loads(body))
    except (ValueError, TypeError, KeyError, AttributeError):
        return (), ()


def build_plan(factory: PayloadFactory, spec: PlanSpec, secret: str) -> list[Delivery]:
    """Every POST of a run, bodies encoded and signed, sorted by scheduled start."""
    if spec.count < 1 or spec.batch < 1:
        raise ConfigError("count and batch must be at least 1")
    if spec.rate <= 0:
        raise ConfigError("rate must be greater than 0")
    if not 0 <= spec.duplicates < 1 or not 0 <= spec.reorder <= 1:
        raise ConfigError("duplicate and reorder probabilities must lie in [0, 1)")
    rng = factory.rng
    kinds, weights = list(spec.mix), list(spec.mix.values())
    phones = list(spec.phones or ())
    updates: list[Update] = []
    while len(updates) < spec.count * spec.batch:
        kind = rng.choices(kinds, weights)[0]
        phone = rng.choice(phones) if phones else None
        updates += updates_of(factory, kind, phone, spec.overrides, spec.context, spec.referral)
    # A lifecycle drawn last is sent whole (sent, delivered, read), even past `count`.
    updates = _reorder(updates, spec.reorder, rng)
    plan: list[Delivery] = []
    for index in range(-(-len(updates) // spec.batch)):
        group = updates[index * spec.batch : (index + 1) * spec.batch]
        delivery = replace(
            prepare(factory.envelope(*group), secret, spec.style, spec.sign_mode),
            at=index / spec.rate,
        )
        plan.append(delivery)
        plan += _duplicates(delivery, spec.duplicates, spec.rate, rng)
    plan.sort(key=lambda d: d.at)
    return plan


def _reorder(updates: list[Update], probability: float, rng: random.Random) -> list[Update]:
    # Meta guarantees no order: swap neighbours, so `read` may arrive before `delivered`.
    result = list(updates)
    for i in range(len(result) - 1):
        if rng.random() < probability:
            result[i], result[i + 1] = result[i + 1], result[i]
    return result


def _duplicates(
    original: Delivery, probability: float, rate: float, rng: random.Random
) -> list[Delivery]:
    # A second delivery with `probability`, a third for 10% of those (as mjarkk/whatsapp-dev).
    copies: list[Delivery] = []
    for chance in (probability, 0.1):
        if rng.random() >= chance:
            break
        gap = rng.uniform(1.0, 20.0) / rate
        copies.append(replace(original, duplicate=True, at=original.at + gap * (len(copies) + 1)))
    return copies
