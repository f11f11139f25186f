"""Every kind of webhook `wasim send` can produce: its name, Meta field, source, and builder.

`wasim send --help`, `--mix`, docs/contract.md and the tests all read this one table; the
source names the section of `reference/whatsapp-webhooks.md` each shape follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from wasim.payloads import calls, coexistence, events
from wasim.payloads.messages import BUILDERS
from wasim.payloads.model import ContextKind, Update
from wasim.payloads.statuses import STATUSES

if TYPE_CHECKING:
    from wasim.payloads.factory import PayloadFactory

Build = Callable[["PayloadFactory", str | None, ContextKind | None, bool], list[Update]]
Simple = Callable[["PayloadFactory", str | None], list[Update]]


@dataclass(frozen=True)
class Kind:
    """One kind: `group` for --help, the `field` Meta names, what it is, where it is from."""

    name: str
    group: str
    field: str
    summary: str
    source: str
    build: Build


def _message(kind: str) -> Build:
    def build(
        f: PayloadFactory, phone: str | None, context: ContextKind | None, referral: bool
    ) -> list[Update]:
        return [f.message(kind, from_phone=phone, context=context, referral=referral)]

    return build


def _status(status: str | None) -> Build:
    def build(
        f: PayloadFactory, phone: str | None, context: ContextKind | None, referral: bool
    ) -> list[Update]:
        return [f.status(status or f.rng.choice(("sent", "delivered", "read")), recipient=phone)]

    return build


def _simple(fn: Simple) -> Build:
    def build(
        f: PayloadFactory, phone: str | None, context: ContextKind | None, referral: bool
    ) -> list[Update]:
        return fn(f, phone)

    return build


def _lifecycle(
    f: PayloadFactory, phone: str | None, context: ContextKind | None, referral: bool
) -> list[Update]:
    return f.lifecycle(recipient=phone)


def _error(
    f: PayloadFactory, phone: str | None, context: ContextKind | None, referral: bool
) -> list[Update]:
    return [f.error()]


# Where each 2025-2026 kind's shape comes from: the section of reference/whatsapp-webhooks.md,
# with its confidence tag (the module docstrings name the pages).
_SOURCES = {
    "coexistence": "§5b coexistence [DOC]",
    "echo_edit": "§5b coexistence [DOC]; edit body [BSP]",
    "echo_revoke": "§5b coexistence [DOC]; revoke body [BSP]",
    "preferences": "§5b user_preferences [DOC]",
    "calls": "§5b calls [BSP]; connect as Meta's calling guides [DOC]",
    "user_changed_user_id": "§5b identity changes [DOC]",
    "user_id_update": "§5b identity changes [DOC]; unsubscribable since Aug 2026",
    "groups": "§5b groups [DOC] lifecycle, [BSP] the rest",
    "account_update": "§5b account_update [BSP] tier, [DOC] the rest",
    "business_capability_update": "§5b account_update (business_capability_update) [DOC]",
}
_MESSAGE_NOTES = {
    "voice": "audio with voice: true",
    "button_reply": "interactive button reply",
    "list_reply": "interactive list reply",
    "nfm_reply": "completed WhatsApp Flow",
    "button": "template quick-reply button",
    "unreaction": "a reaction removed (no emoji)",
    "system": "user_changed_number (with both business-scoped ids since Aug 2026)",
    "unsupported": "unsupported type with error 131051 (poll_creation, edit …)",
}


def _table() -> list[Kind]:
    kinds = [
        Kind(name, "message", "messages", _MESSAGE_NOTES.get(name, f"inbound {wire}"),
             "§3.2, §5b" if name in ("system", "unsupported") else "§3.2", _message(name))
        for name, (wire, _) in BUILDERS.items()
    ]  # fmt: skip
    kinds += [
        Kind(status, "status", "messages", f"status {status} of a business message",
             "§4, §5a" + (", §5b" if status in ("played", "failed") else ""), _status(status))
        for status in STATUSES
    ]  # fmt: skip
    kinds += [
        Kind("status", "status", "messages", "sent, delivered or read at random", "§4",
             _status(None)),
        Kind("lifecycle", "status", "messages", "sent → delivered → read of one message",
             "§4 rules 1-4", _lifecycle),
        Kind("error", "status", "messages", "value-level error (130429 rate limit)", "§3.3",
             _error),
    ]  # fmt: skip
    new: list[tuple[str, str, str, str, Simple]] = [
        ("echo", "coexistence", "smb_message_echoes",
         "a message the business sent from the WhatsApp Business app", coexistence.echo),
        ("echo_edit", "coexistence", "smb_message_echoes",
         "the business edited an app message (edit.original_message_id)", coexistence.echo_edit),
        ("echo_revoke", "coexistence", "smb_message_echoes",
         "the business deleted an app message (revoke)", coexistence.echo_revoke),
        ("history", "coexistence", "history",
         "a chunk of past chats (phase, chunk_order, progress, threads)", coexistence.history),
        ("app_state_sync", "coexistence", "smb_app_state_sync",
         "an address-book contact added or removed", coexistence.app_state_sync),
        ("user_preferences", "preferences", "user_preferences",
         "a user stopped marketing messages", events.user_preferences),
        ("user_preferences_resume", "preferences", "user_preferences",
         "a user resumed marketing messages", partial(events.user_preferences, value="resume")),
        ("call", "calls", "calls",
         "a whole call: connect → terminate, or business-initiated with RINGING, ACCEPTED",
         calls.call),
        ("call_connect", "calls", "calls", "a user calls: connect with an SDP offer",
         calls.call_connect),
        ("call_terminate", "calls", "calls", "a call ended: COMPLETED (duration) or FAILED",
         calls.call_terminate),
        ("call_status", "calls", "calls", "RINGING, ACCEPTED or REJECTED (value.statuses[])",
         calls.call_status),
        ("user_changed_user_id", "identity", "messages",
         "system message: the user's business-scoped id changed", events.user_changed_user_id),
        ("user_id_update", "identity", "user_id_update",
         "user_id {previous, current} on the user_id_update field", events.user_id_update),
        ("group_lifecycle_update", "groups", "group_lifecycle_update",
         "a group created (or deleted)", events.group_lifecycle),
        ("group_participants_update", "groups", "group_participants_update",
         "someone joined by invite link, or left", events.group_participants),
        ("group_settings_update", "groups", "group_settings_update",
         "a group's subject and description changed", events.group_settings),
        ("group_status_update", "groups", "group_status_update",
         "a group suspended or its suspension cleared", events.group_status),
        ("account_update", "account", "account_update",
         "VOLUME_BASED_PRICING_TIER_UPDATE, auth-international eligibility, location",
         events.account_update),
        ("business_capability_update", "account", "business_capability_update",
         "daily conversation limit (per business since Feb 2026)",
         events.business_capability_update),
    ]  # fmt: skip
    kinds += [Kind(name, group, field, summary, _SOURCES.get(name) or _SOURCES[group],
                   _simple(fn))
              for name, group, field, summary, fn in new]  # fmt: skip
    return kinds


KINDS: dict[str, Kind] = {kind.name: kind for kind in _table()}
GROUPS = ("message", "status", "coexistence", "preferences", "calls", "identity", "groups",
          "account")  # fmt: skip


def kind_names() -> list[str]:
    """Every kind, `interactive` (a button reply) included, in table order."""
    return [*KINDS, "interactive"]


def help_text() -> str:
    """The kinds by group, for `wasim send --help`."""
    parts = []
    for group in GROUPS:
        names = [k.name for k in KINDS.values() if k.group == group]
        parts.append(f"{group}: {', '.join(names)}")
    return "; ".join(parts)
