"""What a webhook carries: a contact, one update, and how `--set` reaches into an update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from wasim.errors import ConfigError

JSON = dict[str, Any]
Shape = Literal["current", "pre2026"]
ContextKind = Literal["reply", "forwarded", "frequently_forwarded"]
# `--set +path=value` creates the field; a plain path must name one the update has.
CREATE = "+"


@dataclass(frozen=True)
class Contact:
    """A WhatsApp user as the business sees them."""

    phone: str
    name: str
    user_id: str

    def as_dict(self, shape: Shape) -> JSON:
        if shape == "pre2026":
            return {"profile": {"name": self.name}, "wa_id": self.phone}
        return {"profile": {"name": self.name}, "wa_id": self.phone, "user_id": self.user_id}


@dataclass(frozen=True)
class Update:
    """One update of a webhook: the item, where it sits, and the contact it describes.

    `field` is the key under `value` holding the item (`messages`, `statuses`,
    `message_echoes` …); `change` is the webhook field Meta names in `changes[].field`
    (`messages`, `smb_message_echoes`, `calls` …). A `flat` update is the whole `value`
    (`account_update`, `business_capability_update` carry no metadata and no list).
    """

    field: str
    item: JSON
    contact: Contact | None = None
    change: str = "messages"
    flat: bool = False

    @property
    def wamid(self) -> str | None:
        value = self.item.get("id")
        return value if isinstance(value, str) else None

    @property
    def status(self) -> str | None:
        value = self.item.get("status")
        return value if isinstance(value, str) else None


def set_path(target: JSON, path: str, value: object) -> None:
    """Set `a.b.0.c` in nested dicts and lists, creating dicts on the way; `None` removes."""
    parts = path.split(".")
    node: Any = target
    try:
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    except (ValueError, IndexError, TypeError, AttributeError):
        raise ConfigError(f"cannot set {path!r}: no such place in the payload") from None


def has_path(target: JSON, path: str) -> bool:
    """Whether `a.b.0.c` names a field that `target` already has."""
    node: Any = target
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def override(item: JSON, path: str, value: object) -> bool:
    """Apply one `--set`: `+path` always (created if new), a plain path only where it exists.

    Returns whether it applied, so a plan can tell a path no kind of its mix has.
    """
    if path.startswith(CREATE):
        set_path(item, path[len(CREATE) :], value)
        return True
    if has_path(item, path):
        set_path(item, path, value)
        return True
    return False
