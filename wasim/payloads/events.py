"""The other 2025-2026 webhook fields (reference §5b): preferences, identity, groups, account.

- `user_preferences`: `value.user_preferences[]` {wa_id, detail, category marketing_messages,
  value stop|resume, timestamp as an integer} with the user's `contacts` (Meta's
  user_preferences reference, May 2026 [DOC]).
- Identity: a `system` message of type `user_changed_user_id` with `system.user_id` and
  `system.previous_user_id` and no phone number (Meta's system-messages reference and changelog,
  Aug 2026 [DOC]); and the `user_id_update` field, `value.user_id_update[]` {wa_id, detail,
  user_id {previous, current}, timestamp}, as the reference lists it (§5b). Meta's changelog of
  Aug 11 2026 says user_id_update is not a subscribable field and BSUID changes arrive as
  system messages; it is kept for backends written against the earlier page.
- Groups: `value.groups[]` items under `group_lifecycle_update`, `group_participants_update`,
  `group_settings_update`, `group_status_update` (Meta's "Webhooks for Groups API", Feb 2026,
  for lifecycle [DOC]; participants, settings and status items as YCloud shows them [BSP]).
- `account_update`: a flat `value` {event, …}: VOLUME_BASED_PRICING_TIER_UPDATE with
  `volume_tier_info` (Gupshup [BSP]), authentication-international eligibility and the
  business's primary location [DOC]. `business_capability_update`: the daily conversation
  limit, `max_daily_conversations_per_business` in the current shape,
  `max_daily_conversation_per_phone` in the pre-2026 one [DOC].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasim.payloads import ids
from wasim.payloads.model import JSON, Update

if TYPE_CHECKING:
    from wasim.payloads.factory import PayloadFactory

PREFERENCE_DETAIL = {
    "stop": "User requested to stop marketing messages",
    "resume": "User requested to resume marketing messages",
}
GROUPS_KEPT = 20
TIERS = ("0:100000", "100001:1000000", "1000001:5000000", "5000001:25000000")
REGIONS = ("INDIA", "INDONESIA", "BRAZIL", "MEXICO", "REST_OF_LATIN_AMERICA", "NORTH_AMERICA")


def user_preferences(f: PayloadFactory, phone: str | None, value: str = "stop") -> list[Update]:
    """A user stopped (or resumed) marketing messages from this business."""
    who = f.contact(phone)
    item = {
        "wa_id": who.phone,
        "detail": PREFERENCE_DETAIL[value],
        "category": "marketing_messages",
        "value": value,
        "timestamp": int(f.now()),
    }
    return [Update("user_preferences", item, who, "user_preferences")]


def user_changed_user_id(f: PayloadFactory, phone: str | None) -> list[Update]:
    """The user's business-scoped id changed: a system message naming no phone number."""
    who = f.contact(phone)
    moved = f.renamed(who, user_id=f.new_user_id(who))
    system = {
        "body": f"User {who.name} changed from {who.user_id} to {moved.user_id}",
        "user_id": moved.user_id,
        "previous_user_id": who.user_id,
        "type": "user_changed_user_id",
    }
    item = {
        "id": f.new_wamid(who.phone),
        "timestamp": f.now(),
        "type": "system",
        "system": system,
    }
    return [Update("messages", item, None)]


def user_id_update(f: PayloadFactory, phone: str | None) -> list[Update]:
    """The user's business-scoped id changed, on the `user_id_update` field."""
    who = f.contact(phone)
    moved = f.renamed(who, user_id=f.new_user_id(who))
    item = {
        "wa_id": who.phone,
        "detail": "User business-scoped user ID changed",
        "user_id": {"previous": who.user_id, "current": moved.user_id},
        "timestamp": f.now(),
    }
    return [Update("user_id_update", item, None, "user_id_update")]


def group_lifecycle(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A group the business created (or, one time in ten, deleted)."""
    if f.groups and f.rng.random() < 0.1:
        group = f.groups.pop(f.rng.randrange(len(f.groups)))
        item: JSON = _group(f, group, "group_delete")
        item["request_id"] = ids.hex_id(f.rng, 32)
    else:
        group = ids.group_id(f.rng)
        f.groups.append(group)
        del f.groups[:-GROUPS_KEPT]
        item = _group(f, group, "group_create")
        item["request_id"] = ids.hex_id(f.rng, 32)
        item["subject"] = str(f.draw.faker().catch_phrase())[:100]
        item["invite_link"] = f"https://chat.whatsapp.com/{ids.sha256_b64(f.rng)[:22]}"
        item["join_approval_mode"] = f.rng.choice(("auto_approve", "approval_required"))
    return [Update("groups", item, None, "group_lifecycle_update")]


def group_participants(f: PayloadFactory, phone: str | None) -> list[Update]:
    """Someone joined one of the business's groups by its invite link, or left it."""
    who = f.contact(phone)
    joined = f.rng.random() < 0.7
    item = _group(
        f, _a_group(f), "group_participants_add" if joined else "group_participants_remove"
    )
    person: JSON = {"wa_id": who.phone}
    if f.shape == "current":
        person["user_id"] = who.user_id
    if joined:
        item["reason"] = "invite_link"
        item["added_participants"] = [person]
    else:
        item["initiated_by"] = "participant"
        item["removed_participants"] = [person]
    return [Update("groups", item, None, "group_participants_update")]


def group_settings(f: PayloadFactory, phone: str | None) -> list[Update]:
    """The business changed a group's subject and description."""
    item = _group(f, _a_group(f), "group_settings_update")
    item["request_id"] = ids.hex_id(f.rng, 32)
    item["group_subject"] = {"text": str(f.draw.faker().catch_phrase())[:100]}
    item["group_description"] = {"text": f.draw.text()}
    return [Update("groups", item, None, "group_settings_update")]


def group_status(f: PayloadFactory, phone: str | None) -> list[Update]:
    """WhatsApp suspended one of the business's groups (or lifted a suspension)."""
    kind = "group_suspend" if f.rng.random() < 0.7 else "group_suspend_cleared"
    return [Update("groups", _group(f, _a_group(f), kind), None, "group_status_update")]


def _a_group(f: PayloadFactory) -> str:
    if not f.groups:
        f.groups.append(ids.group_id(f.rng))
    return f.rng.choice(f.groups)


def _group(f: PayloadFactory, group: str, kind: str) -> JSON:
    return {"timestamp": f.now(), "group_id": group, "type": kind}


def account_update(f: PayloadFactory, phone: str | None) -> list[Update]:
    """An account event: a new volume pricing tier (most often), authentication-international
    eligibility, or a new primary business location."""
    draw = f.rng.random()
    now = int(f.now())
    item: JSON
    if draw < 0.6:
        month = f"{2026 + f.rng.randrange(2)}-{f.rng.randint(1, 12):02d}"
        item = {
            "event": "VOLUME_BASED_PRICING_TIER_UPDATE",
            "volume_tier_info": {
                "effective_month": month,
                "pricing_category": f.rng.choice(("UTILITY", "AUTHENTICATION")),
                "region": f.rng.choice(REGIONS),
                "tier": f.rng.choice(TIERS),
                "tier_update_time": now,
            },
        }
    elif draw < 0.8:
        countries = f.rng.sample(("IN", "ID", "EG", "MY", "NG", "PK", "ZA"), 2)
        item = {
            "event": "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
            "auth_international_rate_eligibility": {
                "start_time": now,
                "exception_countries": [
                    {"country_code": code, "start_time": now + 30 * 86_400} for code in countries
                ],
            },
        }
    else:
        country = f.rng.choice(("US", "MX", "BR", "IN", "DE", "ES"))
        item = {"event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "country": country}
    return [Update("account_update", item, None, "account_update", flat=True)]


def business_capability_update(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A new daily conversation limit; its key changed in February 2026."""
    limit = f.rng.choice((250, 1000, 10_000, 100_000))
    key = (
        "max_daily_conversations_per_business"
        if f.shape == "current"
        else "max_daily_conversation_per_phone"
    )
    item = {key: limit, "max_phone_numbers_per_business": f.rng.choice((2, 20))}
    return [Update("business_capability_update", item, None, "business_capability_update", True)]
