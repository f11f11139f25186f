"""Pure builders of WhatsApp Cloud API webhook payloads: every message type, status and error.

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
from wasim.payloads.statuses import STATUSES

__all__ = [
    "MESSAGE_KINDS",
    "STATUSES",
    "STATUS_KINDS",
    "Contact",
    "PayloadFactory",
    "Shape",
    "Update",
    "set_path",
]
