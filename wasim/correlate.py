"""Matching what a client received to what was sent, wherever the backend put it.

A backend we did not write puts the WhatsApp message id under its own key (`message.id`,
`messageId`, `data.msg.whatsapp_id` …) or shows only the text (`lastMessage: "…"`). So, by
default, every string of a received JSON document is looked up among the ids that were sent,
and every text or caption that wasim sends can carry a short marker (`#K7QF2M`) that is found
the same way. Where the user knows the shape, `paths` (dotted, `message.id`) make matching
look only there. Bench, listen and probe all match through `Matcher`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

How = Literal["id", "marker"]
HOWS: tuple[How, ...] = ("id", "marker")

# Crockford's base32 without I, L, O, U: reads as a reference code, never as a word.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MARKER = re.compile(r"#([0-9A-HJKMNP-TV-Z]{6})(?![0-9A-Za-z])")
_LEAF_KEYS_SHOWN = 12


def new_marker(rng: random.Random) -> str:
    """A fresh marker code (six characters, about 10^9 of them)."""
    return "".join(rng.choice(_ALPHABET) for _ in range(6))


def with_marker(text: str, code: str) -> str:
    """`text` carrying the marker, as a person might sign a ticket reference."""
    return f"{text} #{code}"


@dataclass(frozen=True, slots=True)
class Match:
    """A sent message (or status) found in a received document, and how it was found."""

    key: str
    how: How


def at_path(document: Any, path: str) -> Any:
    """The value at dotted `path` (`a.b.0.c`) in parsed JSON, or None."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def strings(document: Any) -> Iterator[str]:
    """Every string value in a JSON document (keys excluded), depth first."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def leaf_keys(document: Any, limit: int = _LEAF_KEYS_SHOWN) -> list[str]:
    """The dotted paths of a document's leaves (list items as `[]`), to say what it had."""
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(node, list):
            if node:
                walk(node[0], f"{prefix}[]")
            elif prefix:
                found.append(f"{prefix}[]")
        elif prefix and prefix not in found:
            found.append(prefix)

    walk(document, "")
    return found


def locate(document: Any, key: str, markers: Mapping[str, str] | None = None) -> str | None:
    """The dotted path where `key` (or its marker) sits in `document`, for people to read."""
    marker = next((code for code, sent in (markers or {}).items() if sent == key), None)

    def walk(node: Any, prefix: str) -> str | None:
        if isinstance(node, str):
            if node == key or (marker is not None and f"#{marker}" in node):
                return prefix
            return None
        if not isinstance(node, dict | list):
            return None
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, value in items:
            found = walk(value, f"{prefix}.{name}" if prefix else str(name))
            if found is not None:
                return found
        return None

    return walk(document, "")


class Matcher:
    """Finds sent ids and markers in received documents.

    `ids` answers whether a string is an id that was sent (a set, or a ledger's index);
    `markers` maps a marker code to the id of the message whose text carried it; `paths`,
    when given, are the only places looked at.
    """

    __slots__ = ("ids", "markers", "paths")

    def __init__(
        self,
        ids: Container[str],
        markers: Mapping[str, str] | None = None,
        paths: Sequence[str] = (),
    ) -> None:
        self.ids = ids
        self.markers: Mapping[str, str] = markers if markers is not None else {}
        self.paths = tuple(paths)

    def find(self, document: Any) -> list[Match]:
        """Every sent id or marker in `document`, in no particular order, each once."""
        if self.paths:
            values: Any = [at_path(document, path) for path in self.paths]
        else:
            values = document
        found: list[Match] = []
        ids, markers = self.ids, self.markers
        for text in strings(values):
            if text in ids:
                found.append(Match(text, "id"))
            elif markers and "#" in text:
                for code in MARKER.findall(text):
                    key = markers.get(code)
                    if key is not None:
                        found.append(Match(key, "marker"))
        if len(found) > 1:
            unique: dict[str, Match] = {}
            for match in found:
                if match.key not in unique or match.how == "id":
                    unique[match.key] = match  # the id itself says more than its text's marker
            found = list(unique.values())
        return found
