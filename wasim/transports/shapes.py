"""Finding the conversation list, a conversation's id and its messages in a backend's answers.

Backends answer `GET conversations` with an array, or an object that holds one
(`{"conversations": […]}`, `{"data": […]}`); ids are integers or strings; a conversation's
messages sit under `messages`, `items` or another key. Each function takes the configured field
(dotted) and, without one, finds the likeliest place by shape.
"""

from __future__ import annotations

from typing import Any

from wasim.correlate import at_path

Json = dict[str, Any]
LIST_KEYS = ("conversations", "chats", "data", "items", "results", "threads")
MESSAGE_KEYS = ("messages", "items", "data", "results", "history")


def _objects(value: Any) -> list[Json] | None:
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, dict)]


def _first_list(body: Json, preferred: tuple[str, ...]) -> tuple[str, list[Json]] | None:
    for key in preferred:
        found = _objects(body.get(key))
        if found is not None:
            return key, found
    for key, value in body.items():
        found = _objects(value)
        if found is not None:
            return key, found
    for key, value in body.items():  # one level down: {"data": {"conversations": […]}}
        if isinstance(value, dict):
            inner = _first_list(value, preferred)
            if inner is not None:
                return f"{key}.{inner[0]}", inner[1]
    return None


def conversation_list(body: Any, field: str | None = None) -> list[Json] | None:
    """The conversations in a list answer, or None when there is no list where expected."""
    if field:
        return _objects(at_path(body, field))
    if isinstance(body, list):
        return _objects(body)
    if isinstance(body, dict):
        found = _first_list(body, LIST_KEYS)
        return found[1] if found is not None else None
    return None


def list_field_of(body: Any) -> str | None:
    """Where `conversation_list` found the list by shape: None for a bare array."""
    if isinstance(body, dict):
        found = _first_list(body, LIST_KEYS)
        return found[0] if found is not None else None
    return None


def conversation_id(conversation: Json, field: str = "id") -> str | int | None:
    """A conversation's id (integer or string), as it goes into the detail URL."""
    value = at_path(conversation, field)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return None
    return value


def message_list(body: Any, field: str | None = None) -> list[Json]:
    """The messages of a detail answer (a bare array, or an object that holds one)."""
    if field:
        return _objects(at_path(body, field)) or []
    if isinstance(body, list):
        return _objects(body) or []
    if isinstance(body, dict):
        found = _first_list(body, MESSAGE_KEYS)
        return found[1] if found is not None else []
    return []


def messages_field_of(body: Any) -> str | None:
    if isinstance(body, dict):
        found = _first_list(body, MESSAGE_KEYS)
        return found[0] if found is not None else None
    return None


def detail_url(list_url: str, template: str | None, conversation: str | int) -> str:
    """The detail URL of one conversation: `template` (`/api/chats/{id}`, relative to the
    list URL's origin) or `<list URL>/<id>`."""
    if not template:
        return f"{list_url.rstrip('/')}/{conversation}"
    origin = list_url.split("/", 3)
    base = "/".join(origin[:3]) if len(origin) > 3 else list_url
    return base + "/" + template.replace("{id}", str(conversation)).lstrip("/")
