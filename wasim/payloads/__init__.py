"""Pure builders of WhatsApp Cloud API webhook payloads: every message type, status, error and
the 2025-2026 fields (echoes, history, calls, preferences, identity, groups, account).

No I/O: a `PayloadFactory` returns plain dicts, byte-for-byte reproducible under a seed.
"""

from wasim.payloads.factory import (
    MESSAGE_KINDS,
    STATUS_KINDS,
    Contact,
    PayloadFactory,
    Shape,
    Update,
    set_path,
)
from wasim.payloads.kinds import KINDS, Kind, kind_names
from wasim.payloads.statuses import STATUSES

__all__ = [
    "KINDS",
    "MESSAGE_KINDS",
    "STATUSES",
    "STATUS_KINDS",
    "Contact",
    "Kind",
    "PayloadFactory",
    "Shape",
    "Update",
    "kind_names",
    "set_path",
]
